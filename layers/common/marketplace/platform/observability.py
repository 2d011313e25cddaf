"""Logger, tracer and metrics for one function (Powertools): JSON logs, X-Ray, CloudWatch EMF metrics."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from aws_lambda_powertools import Logger, Metrics, Tracer
from aws_lambda_powertools.utilities.typing import LambdaContext

from marketplace.platform.config import METRICS_NAMESPACE

Handler = Callable[[dict[str, Any], LambdaContext], dict[str, Any]]


@dataclass(frozen=True)
class Observability:
    logger: Logger
    tracer: Tracer
    metrics: Metrics

    def entry_point(self, correlation_id_path: str | None = None) -> Callable[[Handler], Handler]:
        """Decorate a Lambda handler: Lambda context in every log line, an X-Ray subsegment, metrics flushed."""

        def decorate(handler: Handler) -> Handler:
            traced = self.tracer.capture_lambda_handler(self.metrics.log_metrics(handler), capture_response=False)
            wrapped: Handler = self.logger.inject_lambda_context(traced, correlation_id_path=correlation_id_path)
            return wrapped

        return decorate


def observability(service: str) -> Observability:
    """The module-level singletons of one function."""
    return Observability(
        Logger(service=service),
        # botocore only: it covers pynamodb too, and patching everything X-Ray knows imports requests and
        # other modules the functions never use (about 40 ms of cold start).
        Tracer(service=service, patch_modules=("botocore",)),
        Metrics(namespace=METRICS_NAMESPACE, service=service),
    )
