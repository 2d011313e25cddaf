"""Lambda entry point: Telemetry ingest.

The routes live in ``marketplace.telemetry.routes``; ``http_function`` wraps them in the shared resolver
(CORS, JSON errors) and the shared observability.
"""

from marketplace.platform import coldstart  # first: the garbage collector pauses while the function loads

# isort: split
from marketplace.platform.http import http_function
from marketplace.telemetry.routes import router

app, lambda_handler = http_function("telemetry", router)

coldstart.loaded()
