"""Lambda entry point: extension events from the Kinesis event stream, summed per batch.

Records are taken in stream order up to the first one that cannot be parsed; that one is reported as the
batch item failure, so Lambda retries from it and the records before it are never counted twice. Totals
are written once per extension per batch; a failed write fails the whole batch (retried, bisected, then
sent to the stats dead-letter queue).
"""

from __future__ import annotations

from typing import Any

from aws_lambda_powertools.utilities.data_classes import KinesisStreamEvent
from aws_lambda_powertools.utilities.typing import LambdaContext

from marketplace.platform.observability import observability
from marketplace.stats import events, store

observed = observability("stats")
logger = observed.logger


@observed.entry_point()
def lambda_handler(event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
    parsed: list[events.ExtensionEvent] = []
    failures: list[dict[str, str]] = []
    for record in KinesisStreamEvent(event).records:
        try:
            extension_event = events.parse(record.kinesis.data_as_bytes())
        except events.InvalidEvent as error:
            logger.warning("unreadable event", extra={"sequence": record.kinesis.sequence_number, "error": str(error)})
            failures.append({"itemIdentifier": record.kinesis.sequence_number})
            break
        if extension_event is not None:
            parsed.append(extension_event)
    store.add_totals(events.totals(parsed))
    return {"batchItemFailures": failures}
