"""Lambda entry point: S3 upload notifications arrive through SQS, one message per S3 event.

Partial batch failures are reported per message, so one bad upload never holds up the others; a message
that keeps failing goes to the ingest dead-letter queue after the queue's maxReceiveCount.
"""

from __future__ import annotations

from typing import Any

from aws_lambda_powertools.utilities.data_classes import SQSEvent
from aws_lambda_powertools.utilities.data_classes.sqs_event import SQSRecord
from aws_lambda_powertools.utilities.typing import LambdaContext

from marketplace.platform import aws
from marketplace.platform.batch import process_partial
from marketplace.platform.observability import observability
from marketplace.platform.resources import PACKAGES_BUCKET
from marketplace.publishing import ingest

observed = observability("ingest")
logger, tracer = observed.logger, observed.tracer


def _delete_object(bucket: str, key: str) -> None:
    aws.client("s3").delete_object(Bucket=bucket, Key=key)


@tracer.capture_method(capture_response=False)
def record_handler(record: SQSRecord) -> None:
    for obj in ingest.uploaded_objects(record.json_body, PACKAGES_BUCKET.upload_prefix):
        outcome = ingest.settle(obj, _delete_object)
        logger.info("upload settled", extra={"key": outcome.key, "status": outcome.status, "reason": outcome.reason})


@observed.entry_point()
def lambda_handler(event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
    return process_partial(SQSEvent(event).records, record_handler, lambda r: r.message_id, logger)
