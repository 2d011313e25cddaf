"""Routes of the gallery function: ``{base}/_apis/public/gallery/*`` (extensionquery, latest,
assets, vspackage, stats, control manifest) and the Open VSX read API under ``{base}/api``.

The capability's handlers attach to ``router``; ``functions/gallery/handler.py`` mounts it. Until a route is
added here, every request the function receives gets a JSON 404 that names the method and path.
"""

from __future__ import annotations

from aws_lambda_powertools.event_handler.api_gateway import Router

router = Router()
