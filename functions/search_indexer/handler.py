"""Lambda entry point: the extensions table's DynamoDB stream keeps the search documents current.

Each change is idempotent (a put or a delete of one document), so Powertools' batch processor reports
failures per record and a retried record is simply written again.
"""

from __future__ import annotations

from typing import Any

from aws_lambda_powertools.utilities.batch import BatchProcessor, EventType, process_partial_response
from aws_lambda_powertools.utilities.data_classes.dynamo_db_stream_event import DynamoDBRecord
from aws_lambda_powertools.utilities.typing import LambdaContext

from marketplace.platform.observability import observability
from marketplace.search import documents, store

logger, tracer, metrics = observability("search-indexer")
processor = BatchProcessor(event_type=EventType.DynamoDBStreams)


def record_handler(record: DynamoDBRecord) -> None:
    data = record.dynamodb
    if data is None:
        return
    name = record.event_name.name if record.event_name else ""
    change = documents.change_for(name, data.keys or {}, data.new_image)
    if change is not None:
        store.apply(change)


@logger.inject_lambda_context
@tracer.capture_lambda_handler(capture_response=False)
@metrics.log_metrics
def lambda_handler(event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
    return dict(process_partial_response(event=event, record_handler=record_handler, processor=processor,
                                         context=context))
