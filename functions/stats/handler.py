"""Lambda entry point: extension events from the Kinesis event stream, summed per batch.

Records are taken in stream order up to the first one that cannot be parsed; that one is reported as the
batch item failure, so Lambda retries from it and the records before it are never counted twice. Totals
are written once per extension per batch; a failed write fails the whole batch (retried, bisected, then
sent to the stats dead-letter queue).
"""

from __future__ import annotations

import base64
from typing import Any

from aws_lambda_powertools.utilities.typing import LambdaContext

from marketplace.platform.observability import observability
from marketplace.stats import events, store

observed = observability("stats")
logger = observed.logger


@observed.entry_point()
def lambda_handler(event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
    parsed: list[events.ExtensionEvent] = []
    failures: list[dict[str, str]] = []
    # Plain dicts rather than Powertools' event data classes: importing those costs about 25 ms of cold start.
    for record in event["Records"]:
        sequence = str(record["kinesis"]["sequenceNumber"])
        try:
            extension_event = events.parse(base64.b64decode(record["kinesis"]["data"]))
        except events.InvalidEvent as error:
            logger.warning("unreadable event", extra={"sequence": sequence, "error": str(error)})
            failures.append({"itemIdentifier": sequence})
            break
        if extension_event is not None:
            parsed.append(extension_event)
    store.add_totals(events.totals(parsed))
    return {"batchItemFailures": failures}
