"""Lambda entry point: VS Code gallery protocol and Open VSX read API.

The routes live in ``marketplace.gallery.routes`` (VS Code) and ``marketplace.gallery.openvsx_routes``
(Open VSX); ``http_function`` wraps them in the shared resolver (CORS, JSON errors) and the shared
observability.
"""

from marketplace.platform import coldstart  # first: the garbage collector pauses while the function loads

# isort: split
from marketplace.gallery import openvsx_routes, routes
from marketplace.platform.http import http_function

app, lambda_handler = http_function("gallery", routes.router, openvsx_routes.router)

coldstart.loaded()
