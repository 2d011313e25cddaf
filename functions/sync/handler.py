"""Lambda entry point: Settings Sync store and Edit Sessions.

The routes live in ``marketplace.sync.routes``; ``http_function`` wraps them in the shared resolver
(CORS, JSON errors) and the shared observability.
"""

from marketplace.platform.http import http_function
from marketplace.sync.routes import router

app, lambda_handler = http_function("sync", router)
