"""Routes of the publish-api function: ``{base}/api/publish/*`` (uploads, tokens, namespaces).

The capability's handlers attach to ``router``; ``functions/publish_api/handler.py`` mounts it. Until a route is
added here, every request the function receives gets a JSON 404 that names the method and path.
"""

from __future__ import annotations

from aws_lambda_powertools.event_handler.api_gateway import Router

router = Router()
