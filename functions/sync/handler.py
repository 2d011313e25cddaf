"""Lambda entry point: Settings Sync store and Edit Sessions.

The routes live in ``marketplace.sync.routes``; ``http_function`` wraps them in the shared resolver
(CORS, JSON errors) and the shared observability.
"""

from marketplace.platform import coldstart  # first: the garbage collector pauses while the function loads

# isort: split
from marketplace.platform.http import http_function
from marketplace.sync.routes import router

app, lambda_handler = http_function("sync", router)

coldstart.loaded()
