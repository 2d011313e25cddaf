"""Lambda entry point: Publishers, namespaces, tokens and presigned uploads.

The routes live in ``marketplace.publishing.routes`` and, for Open VSX's user API (``/user...``),
``marketplace.publishing.openvsx_user``; ``http_function`` wraps them in the shared resolver
(CORS, JSON errors) and the shared observability.
"""

from marketplace.platform import coldstart  # first: the garbage collector pauses while the function loads

# isort: split
from marketplace.platform.http import http_function
from marketplace.publishing import openvsx_user
from marketplace.publishing.routes import router

app, lambda_handler = http_function("publish-api", router, openvsx_user.router)

coldstart.loaded()
