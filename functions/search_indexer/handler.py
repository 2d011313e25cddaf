"""Lambda entry point: the extensions table's DynamoDB stream keeps the search snapshot current.

Only changes to an extension's own item matter (every publish, unpublish, deprecation or block rewrites
it); each such extension is read again from the table and rewritten in its segment, each touched segment
once per batch. Failures are reported per record: a record fails when its extension's segment could not
be written, and a retried record simply indexes the extension again.
"""

from __future__ import annotations

from marketplace.platform import coldstart  # first: the garbage collector pauses while the function loads

# isort: split
from collections.abc import Mapping
from typing import Any

from aws_lambda_powertools.utilities.typing import LambdaContext

from marketplace.platform.batch import process_partial
from marketplace.platform.observability import observability
from marketplace.search import indexer

observed = observability("search-indexer")
logger = observed.logger


Record = Mapping[str, Any]  # one DynamoDB Streams record, as Lambda delivers it


def _extension(record: Record) -> str | None:
    """The extension the record's item is about; the keys are strings (``{"pk": {"S": ...}, ...}``), read
    without Powertools' event data classes, whose package costs the function about 17 ms of cold start."""
    keys = (record.get("dynamodb") or {}).get("Keys")
    if not keys:
        return None
    return indexer.changed_extension({name: value.get("S") for name, value in keys.items() if isinstance(value, dict)})


@observed.entry_point()
def lambda_handler(event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
    records: list[Record] = list(event.get("Records") or [])
    failed = indexer.index(i for r in records if (i := _extension(r)) is not None)

    def outcome(record: Record) -> None:
        extension = _extension(record)
        if extension in failed:
            raise failed[extension]

    return process_partial(records, outcome, _sequence, logger)


def _sequence(record: Record) -> str:
    """The record's id in a partial-batch answer: its stream sequence number."""
    return str((record.get("dynamodb") or {}).get("SequenceNumber") or record.get("eventID"))

coldstart.loaded()
