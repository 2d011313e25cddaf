"""Lambda entry point: the extensions table's DynamoDB stream keeps the search documents current.

Each change is idempotent (a put or a delete of one document), so failures are reported per record and a
retried record is simply written again.
"""

from __future__ import annotations

from typing import Any

from aws_lambda_powertools.utilities.data_classes import DynamoDBStreamEvent
from aws_lambda_powertools.utilities.data_classes.dynamo_db_stream_event import DynamoDBRecord
from aws_lambda_powertools.utilities.typing import LambdaContext

from marketplace.platform.batch import process_partial
from marketplace.platform.observability import observability
from marketplace.search import documents, store

observed = observability("search-indexer")
logger = observed.logger


def record_handler(record: DynamoDBRecord) -> None:
    data = record.dynamodb
    if data is None:
        return
    name = record.event_name.name if record.event_name else ""
    change = documents.change_for(name, data.keys or {}, data.new_image)
    if change is not None:
        store.apply(change)


@observed.entry_point()
def lambda_handler(event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
    return process_partial(DynamoDBStreamEvent(event).records, record_handler, _sequence, logger)


def _sequence(record: DynamoDBRecord) -> str:
    return str(record.dynamodb.sequence_number if record.dynamodb else record.event_id)
