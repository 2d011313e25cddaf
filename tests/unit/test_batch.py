"""Partial batch responses (marketplace.platform.batch), the strategy of all three consumers; plain Python."""

from __future__ import annotations

import pytest
from aws_lambda_powertools import Logger

from marketplace.platform.batch import BatchFailed, partial_response, process_partial


def test_the_failed_records_are_named() -> None:
    assert partial_response([], 3) == {"batchItemFailures": []}
    assert partial_response(["7"], 3) == {"batchItemFailures": [{"itemIdentifier": "7"}]}
    assert partial_response([], 0) == {"batchItemFailures": []}  # an empty batch is no failure


def test_a_batch_whose_every_record_failed_fails_the_invocation() -> None:
    with pytest.raises(BatchFailed, match="all 2 records failed"):
        partial_response(["1", "2"], 2)


def test_process_partial_reports_the_records_that_raised() -> None:
    def handle(record: int) -> None:
        if record % 2:
            raise ValueError(record)

    assert process_partial([1, 2, 4], handle, str, Logger(service="test")) == {
        "batchItemFailures": [{"itemIdentifier": "1"}]}
    with pytest.raises(BatchFailed):
        process_partial([1, 3], handle, str, Logger(service="test"))
