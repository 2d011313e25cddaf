"""Logger, tracer and metrics for one function: JSON logs and CloudWatch EMF metrics (Powertools), X-Ray
subsegments (``platform.tracing``)."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, NamedTuple

from aws_lambda_powertools import Logger, Metrics
from aws_lambda_powertools.utilities.typing import LambdaContext

from marketplace.platform import tracing
from marketplace.platform.config import METRICS_NAMESPACE
from marketplace.platform.tracing import Tracer

Handler = Callable[[dict[str, Any], LambdaContext], dict[str, Any]]


class Observability(NamedTuple):  # a NamedTuple, not a dataclass: every function builds one at cold start
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
    # AWS calls are traced in the shared session's clients (platform.aws) and in every session created from
    # now on: PynamoDB creates its own, one per thread.
    tracing.instrument_new_sessions()
    return Observability(
        Logger(service=service),
        Tracer(service),
        Metrics(namespace=METRICS_NAMESPACE, service=service),
    )
