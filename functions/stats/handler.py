"""Lambda entry point: extension events and telemetry from the Kinesis event stream, summed per batch and
written once per extension (``marketplace.stats.consumer``: exactly-once counting by per-shard watermarks,
partial failures from the first record not applied, answered by ``platform.batch`` like the other consumers)."""

from __future__ import annotations

from marketplace.platform import coldstart  # first: the garbage collector pauses while the function loads

# isort: split
from typing import Any

from aws_lambda_powertools.utilities.typing import LambdaContext

from marketplace.catalog import table as catalog
from marketplace.platform.observability import observability
from marketplace.stats.consumer import StatsProcessor

observed = observability("stats")
processor = StatsProcessor(observed.logger, observed.metrics, catalog=catalog)  # touches reach the search index


@observed.entry_point()
def lambda_handler(event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
    return processor.process(event)

coldstart.loaded()
