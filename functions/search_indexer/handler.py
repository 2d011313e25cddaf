"""Lambda entry point: the extensions table's DynamoDB stream keeps the search snapshot current.

Only changes to an extension's own item matter (every publish, unpublish, deprecation or block rewrites
it); each such extension is read again from the table and rewritten in its segment, each touched segment
once per batch. Failures are reported per record: a record fails when its extension's segment could not
be written, and a retried record simply indexes the extension again.
"""

from __future__ import annotations

from typing import Any

from aws_lambda_powertools.utilities.data_classes import DynamoDBStreamEvent
from aws_lambda_powertools.utilities.data_classes.dynamo_db_stream_event import DynamoDBRecord
from aws_lambda_powertools.utilities.typing import LambdaContext

from marketplace.platform.batch import process_partial
from marketplace.platform.observability import observability
from marketplace.search import indexer

observed = observability("search-indexer")
logger = observed.logger


def _extension(record: DynamoDBRecord) -> str | None:
    return indexer.changed_extension(record.dynamodb.keys if record.dynamodb else None)


@observed.entry_point()
def lambda_handler(event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
    records = list(DynamoDBStreamEvent(event).records)
    failed = indexer.index(i for r in records if (i := _extension(r)) is not None)

    def outcome(record: DynamoDBRecord) -> None:
        extension = _extension(record)
        if extension in failed:
            raise failed[extension]

    return process_partial(records, outcome, _sequence, logger)


def _sequence(record: DynamoDBRecord) -> str:
    return str(record.dynamodb.sequence_number if record.dynamodb else record.event_id)
