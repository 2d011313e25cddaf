"""Lambda entry point: Ratings and reviews.

The routes live in ``marketplace.reviews.routes``; ``http_function`` wraps them in the shared resolver
(CORS, JSON errors) and the shared observability.
"""

from marketplace.platform.http import http_function
from marketplace.reviews.routes import router

app, lambda_handler = http_function("reviews", router)
