"""Lambda entry point: Publishers, namespaces, tokens and presigned uploads.

Thin on purpose: the routes live in ``marketplace.publishing.routes``; this module only wires observability and
the shared resolver (CORS, JSON errors) around them.
"""

from __future__ import annotations

from typing import Any

from aws_lambda_powertools.logging import correlation_paths
from aws_lambda_powertools.utilities.typing import LambdaContext

from marketplace.platform.http import http_app
from marketplace.platform.observability import observability
from marketplace.publishing.routes import router

logger, tracer, metrics = observability("publish-api")
app = http_app("publish-api", router, logger=logger)


@logger.inject_lambda_context(correlation_id_path=correlation_paths.API_GATEWAY_HTTP)
@tracer.capture_lambda_handler(capture_response=False)
@metrics.log_metrics
def lambda_handler(event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
    return app.resolve(event, context)
