"""Queued messages survive a restart of the local runtime: same ids, bodies and attributes, in-flight messages
visible again, dead-letter queue contents kept."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import boto3
import pytest
from botocore.exceptions import ClientError
from moto import mock_aws

from marketplace.local import durable
from marketplace.local.durable import sqs as durable_sqs
from marketplace.local.durable.store import DataStore
from tests.integration.durable import active_store

ATTRIBUTES = {
    "kind": {"DataType": "String", "StringValue": "upload"},
    "raw": {"DataType": "Binary", "BinaryValue": b"\x00\x01bytes"},
}


@pytest.fixture
def store(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[DataStore]:
    with active_store(tmp_path, monkeypatch, durable_sqs.install) as data:
        yield data


def _queues(sqs: Any) -> tuple[str, str]:
    """The queues as provisioning makes them: a dead-letter queue first, then the work queue redriving there."""
    dlq = sqs.create_queue(QueueName="dlq")["QueueUrl"]
    dlq_arn = sqs.get_queue_attributes(QueueUrl=dlq, AttributeNames=["QueueArn"])["Attributes"]["QueueArn"]
    work = sqs.create_queue(QueueName="work", Attributes={
        "VisibilityTimeout": "300",
        "RedrivePolicy": json.dumps({"deadLetterTargetArn": dlq_arn, "maxReceiveCount": 2})})["QueueUrl"]
    return work, dlq


def _receive_all(sqs: Any, url: str) -> list[dict[str, Any]]:
    messages: list[dict[str, Any]] = []
    while batch := sqs.receive_message(QueueUrl=url, MaxNumberOfMessages=10, AttributeNames=["All"],
                                       MessageAttributeNames=["All"], VisibilityTimeout=300).get("Messages"):
        messages += batch
    return messages


def test_messages_survive_a_restart(store: DataStore) -> None:
    with mock_aws():
        sqs = boto3.client("sqs")
        work, dlq = _queues(sqs)
        sent = {sqs.send_message(QueueUrl=work, MessageBody=f"m{i}", MessageAttributes=ATTRIBUTES)["MessageId"]:
                f"m{i}" for i in range(5)}
        batch = sqs.send_message_batch(QueueUrl=work, Entries=[
            {"Id": str(i), "MessageBody": f"b{i}"} for i in range(3)])["Successful"]
        sent |= {entry["MessageId"]: f"b{i}" for i, entry in enumerate(batch)}
        received = sqs.receive_message(QueueUrl=work, MaxNumberOfMessages=4, VisibilityTimeout=300)["Messages"]
        assert len(received) == 4  # in flight from here on
        sqs.delete_message(QueueUrl=work, ReceiptHandle=received[0]["ReceiptHandle"])
        sqs.delete_message_batch(QueueUrl=work, Entries=[{"Id": "0", "ReceiptHandle": received[1]["ReceiptHandle"]}])
        deleted = {received[0]["MessageId"], received[1]["MessageId"]}
        # messages received twice and put back go to the dead-letter queue on the next receive (moto moves them)
        poison = sqs.send_message(QueueUrl=dlq, MessageBody="already dead")["MessageId"]
        for _ in range(2):
            for message in _receive_all(sqs, work):
                sqs.change_message_visibility(QueueUrl=work, ReceiptHandle=message["ReceiptHandle"],
                                              VisibilityTimeout=0)
        redriven = set(sent) - deleted - {received[2]["MessageId"], received[3]["MessageId"]}
        assert _receive_all(sqs, work) == []  # the redrive happened; the two in flight stay invisible
        later = {sqs.send_message(QueueUrl=work, MessageBody=f"later{i}")["MessageId"]: f"later{i}"
                 for i in range(2)}
        remaining = {received[2]["MessageId"]: received[2]["Body"], received[3]["MessageId"]: received[3]["Body"],
                     **later}
        dead = {m["MessageId"]: m["Body"] for m in _receive_all(sqs, dlq)}
        assert set(dead) == redriven | {poison}

    with mock_aws():  # a new process: the queues are provisioned again, empty
        sqs = boto3.client("sqs")
        work, dlq = _queues(sqs)
        durable_sqs.restore(store)
        after = {m["MessageId"]: m for m in _receive_all(sqs, work)}
        assert {i: m["Body"] for i, m in after.items()} == remaining
        for i in (received[2]["MessageId"], received[3]["MessageId"]):  # in flight at the restart
            assert after[i]["MessageAttributes"] == ATTRIBUTES
            assert after[i]["Attributes"]["ApproximateReceiveCount"] == "2"  # received before, and now
            assert after[i]["MD5OfBody"] == received[2 if i == received[2]["MessageId"] else 3]["MD5OfBody"]
        assert all(after[i]["Attributes"]["ApproximateReceiveCount"] == "1" for i in later)
        assert {m["MessageId"]: m["Body"] for m in _receive_all(sqs, dlq)} == dead


def test_purge_and_delete_queue_clear_the_record(store: DataStore) -> None:
    with mock_aws():
        sqs = boto3.client("sqs")
        work, dlq = _queues(sqs)
        sqs.send_message(QueueUrl=work, MessageBody="x")
        sqs.send_message(QueueUrl=dlq, MessageBody="y")
        assert store.get("sqs", "work") is not None
        sqs.purge_queue(QueueUrl=work)
        assert store.get("sqs", "work") is None
        assert store.get("sqs", "dlq") is not None
        sqs.delete_queue(QueueUrl=dlq)
        assert store.get("sqs", "dlq") is None


def test_a_failed_call_records_nothing(store: DataStore) -> None:
    with mock_aws():
        sqs = boto3.client("sqs")
        work, _ = _queues(sqs)
        sqs.send_message(QueueUrl=work, MessageBody="x")
        writes = store.writes
        with pytest.raises(ClientError):
            sqs.delete_message(QueueUrl=work, ReceiptHandle="not-a-handle")
        with pytest.raises(ClientError):
            sqs.send_message(QueueUrl=work, MessageBody="x", DelaySeconds=901)
        assert store.writes == writes


def test_nothing_is_written_without_an_active_store(store: DataStore) -> None:
    durable.activate(None)
    with mock_aws():
        sqs = boto3.client("sqs")
        work, _ = _queues(sqs)
        sqs.send_message(QueueUrl=work, MessageBody="x")
        _receive_all(sqs, work)
    assert list(store.scan("sqs")) == []


def test_restore_into_a_missing_queue_keeps_the_record(store: DataStore) -> None:
    with mock_aws():
        sqs = boto3.client("sqs")
        work, _ = _queues(sqs)
        sqs.send_message(QueueUrl=work, MessageBody="x")
    with mock_aws():
        durable_sqs.restore(store)
    assert store.get("sqs", "work") is not None


def test_receiving_from_an_unchanged_queue_writes_nothing(store: DataStore) -> None:
    with mock_aws():
        sqs = boto3.client("sqs")
        work, _ = _queues(sqs)
        sqs.send_message(QueueUrl=work, MessageBody="x")
        (message,) = sqs.receive_message(QueueUrl=work, VisibilityTimeout=300)["Messages"]
        writes = store.writes
        for _ in range(5):  # what an idle poller does
            assert "Messages" not in sqs.receive_message(QueueUrl=work)
        assert store.writes == writes
        sqs.delete_message(QueueUrl=work, ReceiptHandle=message["ReceiptHandle"])
        assert store.writes == writes + 1 and store.get("sqs", "work") is None
