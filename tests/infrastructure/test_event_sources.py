from __future__ import annotations

from typing import Any

import pytest

from marketplace.platform import functions as fns
from marketplace.platform import resources as r

from .synth import Synthesized, get_att

pytestmark = pytest.mark.slow
# event-source mappings (a schedule is an EventBridge rule instead: test_mirror_function.py)
WITH_SOURCE = [f for f in fns.FUNCTIONS if isinstance(f.source, fns.SqsSource | fns.StreamSource)]


def _mapping(dev: Synthesized, definition: fns.FunctionDef) -> dict[str, Any]:
    function_ref = dev.ref(dev.stack.functions.function(definition))
    (mapping,) = [
        m["Properties"]
        for m in dev.resources("AWS::Lambda::EventSourceMapping").values()
        if m["Properties"]["FunctionName"] == function_ref
    ]
    return mapping


def test_one_mapping_per_event_source(dev: Synthesized) -> None:
    assert len(dev.resources("AWS::Lambda::EventSourceMapping")) == len(WITH_SOURCE)


@pytest.mark.parametrize("definition", WITH_SOURCE, ids=lambda f: f.name)
def test_mapping_reports_partial_failures_and_uses_the_defined_settings(
    dev: Synthesized, definition: fns.FunctionDef
) -> None:
    mapping = _mapping(dev, definition)
    source = definition.source
    assert isinstance(source, fns.SqsSource | fns.StreamSource)
    assert mapping["FunctionResponseTypes"] == ["ReportBatchItemFailures"]
    assert mapping["BatchSize"] == source.batch_size
    assert mapping["MaximumBatchingWindowInSeconds"] == source.max_batching_window_seconds
    match source:
        case fns.SqsSource(queue=queue_id):
            assert mapping["EventSourceArn"] == dev.arn(dev.stack.queues.queue(r.queue(queue_id)))
            assert "DestinationConfig" not in mapping  # the queue's own redrive policy handles failures
        case fns.StreamSource():
            if source.kind == "kinesis":
                expected_arn = dev.arn(dev.stack.streams.stream(r.stream(source.source)))
            else:
                expected_arn = get_att(dev.logical_id(dev.stack.tables.table(r.table(source.source))), "StreamArn")
            assert mapping["EventSourceArn"] == expected_arn
            assert mapping["StartingPosition"] == source.starting_position
            assert mapping["MaximumRetryAttempts"] == source.max_retry_attempts
            assert mapping["BisectBatchOnFunctionError"] is source.bisect_batch_on_error
            assert mapping["DestinationConfig"] == {
                "OnFailure": {"Destination": dev.arn(dev.stack.queues.queue(r.queue(source.on_failure)))}
            }
        case _:
            pytest.fail(f"unexpected source {source!r}")
