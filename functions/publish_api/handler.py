"""Lambda entry point: Publishers, namespaces, tokens and presigned uploads, and the website's publisher area.

The routes live in ``marketplace.publishing.routes`` and, for Open VSX's user API (``/user...``),
``marketplace.publishing.openvsx_user``; the publisher area's pages (``/manage...``, signed in with a website
session) in ``marketplace.web.manage``. ``http_function`` wraps them in the shared resolver (CORS, errors: JSON,
and pages under ``/manage``) and the shared observability.
"""

from marketplace.platform import coldstart  # first: the garbage collector pauses while the function loads

# isort: split
from marketplace.platform.http import http_function
from marketplace.publishing import openvsx_user
from marketplace.publishing.routes import router
from marketplace.web import manage

app, lambda_handler = http_function("publish-api", router, openvsx_user.router, manage.router,
                                    error_page=manage.error_page)

coldstart.loaded()
