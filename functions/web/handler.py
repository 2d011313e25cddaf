"""Lambda entry point: the website, server-rendered pages for people (``marketplace.web``).

Errors are pages too (``web.routes.error_page``), with the status code the JSON API would give.
"""

from marketplace.platform import coldstart  # first: the garbage collector pauses while the function loads

# isort: split
from marketplace.platform.http import http_function
from marketplace.web import routes

app, lambda_handler = http_function("web", routes.router, error_page=routes.error_page)

coldstart.loaded()
