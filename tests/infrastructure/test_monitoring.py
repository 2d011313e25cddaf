from __future__ import annotations

from typing import Any

import pytest

from marketplace.platform import functions as fns
from marketplace.platform import resources as r
from stacks.queues import dead_letter_queue_ids

from .synth import Synthesized

pytestmark = pytest.mark.slow


def _alarms(dev: Synthesized, metric: str) -> list[dict[str, Any]]:
    return [
        a["Properties"]
        for a in dev.resources("AWS::CloudWatch::Alarm").values()
        if a["Properties"]["MetricName"] == metric
    ]


def _dimension(alarm: dict[str, Any]) -> Any:
    (dimension,) = alarm["Dimensions"]
    return dimension["Value"]


def test_dead_letter_queues_alarm_on_the_first_message(dev: Synthesized) -> None:
    alarms = _alarms(dev, "ApproximateNumberOfMessagesVisible")
    built = dev.stack.queues.queues  # a schedule's dead-letter queue comes with its optional function only
    expected = {dev.logical_id(dev.stack.queues.queue(r.queue(q))) for q in dead_letter_queue_ids() if q in built}
    assert {_dimension(a)["Fn::GetAtt"][0] for a in alarms} == expected
    assert expected == {
        dev.logical_id(dev.stack.queues.queue(q))
        for q in r.QUEUES
        if q.id in built and (
            any(other.dead_letter == q.id for other in r.QUEUES)
            or any(isinstance(f.source, fns.StreamSource) and f.source.on_failure == q.id for f in fns.FUNCTIONS)
            or any(isinstance(f.source, fns.ScheduleSource) and f.source.dead_letter_queue == q.id
                   for f in fns.FUNCTIONS))
    }
    for alarm in alarms:
        assert alarm["Threshold"] == 0
        assert alarm["ComparisonOperator"] == "GreaterThanThreshold"


@pytest.mark.parametrize("metric", ["Errors", "Throttles"])
def test_every_function_alarms_on_errors_and_throttles(dev: Synthesized, metric: str) -> None:
    functions = {_dimension(a)["Ref"] for a in _alarms(dev, metric) if a["Namespace"] == "AWS/Lambda"}
    assert functions == {dev.logical_id(dev.stack.functions.function(f)) for f in dev.functions}


def test_stream_consumers_alarm_when_they_fall_behind(dev: Synthesized) -> None:
    consumers = {_dimension(a)["Ref"] for a in _alarms(dev, "IteratorAge")}
    assert consumers == {
        dev.logical_id(dev.stack.functions.function(f)) for f in dev.functions if isinstance(f.source, fns.StreamSource)
    }


def test_every_alarm_notifies_the_encrypted_topic(dev: Synthesized) -> None:
    topic = dev.stack.monitoring.topic
    assert dev.props(topic)["KmsMasterKeyId"] == dev.arn(dev.stack.keys.logs_key)
    for alarm in dev.resources("AWS::CloudWatch::Alarm").values():
        assert alarm["Properties"]["AlarmActions"] == [dev.ref(topic)]
    (policy,) = dev.resources("AWS::SNS::TopicPolicy").values()
    (statement,) = policy["Properties"]["PolicyDocument"]["Statement"]
    assert statement["Effect"] == "Deny"
    assert statement["Condition"] == {"Bool": {"aws:SecureTransport": "false"}}


def test_outputs_name_the_entry_points_and_the_data(dev: Synthesized) -> None:
    outputs = dev.json["Outputs"]
    assert outputs["Url"]["Value"]["Fn::Join"][1][0] == "https://"
    assert "ApiUrl" in outputs
    table_outputs = {o["Value"]["Ref"] for name, o in outputs.items() if name.endswith("TableName")}
    assert table_outputs == {dev.logical_id(dev.stack.tables.table(t)) for t in r.TABLES}
    bucket_outputs = {o["Value"]["Ref"] for name, o in outputs.items() if name.endswith("BucketName")}
    assert bucket_outputs == {dev.logical_id(dev.stack.buckets.bucket(b)) for b in r.BUCKETS} | {
        dev.logical_id(dev.stack.lake.bucket(b)) for b in r.LAKE_BUCKETS
    }
