"""Logger, tracer and metrics for one function (Powertools): JSON logs, X-Ray, CloudWatch EMF metrics."""

from __future__ import annotations

from aws_lambda_powertools import Logger, Metrics, Tracer

METRICS_NAMESPACE = "Marketplace"


def observability(service: str) -> tuple[Logger, Tracer, Metrics]:
    """The module-level singletons a handler decorates itself with."""
    return (
        Logger(service=service),
        # botocore only: it covers pynamodb too, and patching everything X-Ray knows imports requests and
        # other modules the functions never use (about 40 ms of cold start).
        Tracer(service=service, patch_modules=("botocore",)),
        Metrics(namespace=METRICS_NAMESPACE, service=service),
    )
