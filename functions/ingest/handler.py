"""Lambda entry point: S3 upload notifications arrive through SQS, one message per S3 event; each uploaded
package is validated and published or rejected (``marketplace.publishing.ingest``).

Partial batch failures are reported per message, so one bad upload never holds up the others; a message
that keeps failing goes to the ingest dead-letter queue after the queue's maxReceiveCount.
"""

from __future__ import annotations

from marketplace.platform import coldstart  # first: the garbage collector pauses while the function loads

# isort: split
import json
from typing import Any

from aws_lambda_powertools.utilities.typing import LambdaContext

from marketplace.platform.batch import process_partial
from marketplace.platform.observability import observability
from marketplace.platform.resources import INGEST_QUEUE, PACKAGES_BUCKET
from marketplace.publishing import ingest

observed = observability("ingest")
logger, tracer = observed.logger, observed.tracer


@tracer.capture_method(capture_response=False)
def record_handler(record: dict[str, Any]) -> None:
    # on the last delivery before the dead-letter queue, an internal failure rejects the upload instead
    final = int(record.get("attributes", {}).get("ApproximateReceiveCount", 1)) >= INGEST_QUEUE.max_receive_count
    for obj in ingest.uploaded_objects(json.loads(record["body"]), PACKAGES_BUCKET.upload_prefix):
        outcome = ingest.settle(obj, final_attempt=final)
        logger.info("upload settled", extra={"key": outcome.key, "status": outcome.status, "reason": outcome.reason,
                                             "code": outcome.code})


@observed.entry_point()
def lambda_handler(event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
    # Plain dicts rather than Powertools' event data classes: importing those costs this function about 25 ms
    # of cold start (bench/), and an SQS record needs only its body and messageId.
    return process_partial(event["Records"], record_handler, lambda r: str(r["messageId"]), logger)

coldstart.loaded()
