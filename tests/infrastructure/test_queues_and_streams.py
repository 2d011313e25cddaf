from __future__ import annotations

import pytest

from marketplace.platform import resources as r

from .synth import Synthesized

pytestmark = pytest.mark.slow


@pytest.mark.parametrize("definition", r.QUEUES, ids=lambda q: q.id)
def test_queue_is_encrypted_and_redrives_as_defined(prod: Synthesized, definition: r.QueueDef) -> None:
    """prod's: it has every queue (the scheduled mirror's dead-letter queue comes with the mirror only)."""
    props = prod.props(prod.stack.queues.queue(definition))
    assert props["QueueName"] == definition.physical_name(prod.stage)
    assert props["KmsMasterKeyId"] == prod.arn(prod.stack.keys.key(r.DATA_KEY))
    assert props["MessageRetentionPeriod"] == definition.retention_days * 24 * 3600
    assert props["VisibilityTimeout"] == definition.visibility_timeout_seconds
    if definition.dead_letter:
        assert props["RedrivePolicy"] == {
            "deadLetterTargetArn": prod.arn(prod.stack.queues.queue(r.queue(definition.dead_letter))),
            "maxReceiveCount": definition.max_receive_count,
        }
    else:
        assert "RedrivePolicy" not in props


def test_every_queue_refuses_plain_http(prod: Synthesized) -> None:
    for definition in r.QUEUES:
        queue_ref = prod.ref(prod.stack.queues.queue(definition))
        (policy,) = [
            p for p in prod.resources("AWS::SQS::QueuePolicy").values() if p["Properties"]["Queues"] == [queue_ref]
        ]
        assert {
            "Action": "sqs:*",
            "Condition": {"Bool": {"aws:SecureTransport": "false"}},
            "Effect": "Deny",
            "Principal": {"AWS": "*"},
            "Resource": prod.arn(prod.stack.queues.queue(definition)),
        } in policy["Properties"]["PolicyDocument"]["Statement"]


@pytest.mark.parametrize("definition", r.STREAMS, ids=lambda s: s.id)
def test_stream_is_on_demand_and_encrypted_with_the_stream_key(dev: Synthesized, definition: r.StreamDef) -> None:
    props = dev.props(dev.stack.streams.stream(definition))
    assert props["Name"] == definition.physical_name(dev.stage)
    assert props["StreamModeDetails"] == {"StreamMode": "ON_DEMAND"}
    assert props["StreamEncryption"] == {
        "EncryptionType": "KMS",
        "KeyId": dev.arn(dev.stack.keys.key(r.STREAM_KEY)),
    }
    assert props["RetentionPeriodHours"] == definition.retention_hours
