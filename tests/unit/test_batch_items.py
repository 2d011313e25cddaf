"""DynamoDB's batch reads and writes (``platform.batch_items``) against an in-memory client that leaves keys
unprocessed for its first answers: the chunking, the retries of what was left, and the give-up error. No test
sleeps: the policy's ``sleep`` is a manual clock."""

from __future__ import annotations

import subprocess
import sys
from typing import Any

import pytest

from marketplace.platform import batch_items
from marketplace.platform.retry import Backoff
from tests.fakes.clock import Clock

TABLE = "things"


def key(n: int) -> dict[str, Any]:
    return {"pk": {"S": f"T#{n}"}}


class FakeClient:
    """A table of ``stored`` items; each of the first ``stubborn`` calls processes only its first ``served``
    keys or requests and answers the rest as unprocessed."""

    def __init__(self, stored: range, *, stubborn: int = 0, served: int = 1) -> None:
        self.items = {f"T#{n}": {**key(n), "value": {"N": str(n)}} for n in stored}
        self.stubborn = stubborn
        self.served = served
        self.calls: list[dict[str, Any]] = []
        self.deleted: list[str] = []

    def _split(self, sent: list[Any]) -> tuple[list[Any], list[Any]]:
        if len(self.calls) <= self.stubborn:
            return sent[:self.served], sent[self.served:]
        return sent, []

    def batch_get_item(self, *, RequestItems: dict[str, Any]) -> dict[str, Any]:  # noqa: N803
        self.calls.append(RequestItems)
        request = RequestItems[TABLE]
        assert len(request["Keys"]) <= 100
        done, left = self._split(request["Keys"])
        found = [self.items[k["pk"]["S"]] for k in done if k["pk"]["S"] in self.items]
        answer: dict[str, Any] = {"Responses": {TABLE: found}, "UnprocessedKeys": {}}
        if left:
            answer["UnprocessedKeys"] = {TABLE: {**request, "Keys": left}}
        return answer

    def batch_write_item(self, *, RequestItems: dict[str, Any]) -> dict[str, Any]:  # noqa: N803
        self.calls.append(RequestItems)
        requests = RequestItems[TABLE]
        assert len(requests) <= 25
        done, left = self._split(requests)
        for request in done:
            name = request["DeleteRequest"]["Key"]["pk"]["S"]
            self.items.pop(name, None)
            self.deleted.append(name)
        return {"UnprocessedItems": {TABLE: left} if left else {}}


def policy(attempts: int = 4) -> tuple[Backoff, Clock]:
    clock = Clock()
    return Backoff(attempts, base=0.05, jitter=False, sleep=clock.sleep, clock=clock), clock


def read(client: FakeClient, keys: list[dict[str, Any]], backoff: Backoff, **options: Any) -> dict[str, Any]:
    return {i["pk"]["S"]: i for i in batch_items.get_items(client, TABLE, keys, backoff, "gave up", **options)}


def test_reads_every_existing_item_in_calls_of_100_keys():
    client = FakeClient(range(0, 250, 2))
    backoff, clock = policy()
    found = read(client, [key(n) for n in range(250)], backoff)
    assert sorted(found) == sorted(f"T#{n}" for n in range(0, 250, 2))
    assert [len(call[TABLE]["Keys"]) for call in client.calls] == [100, 100, 50]
    assert all(call[TABLE]["ConsistentRead"] is True for call in client.calls)
    assert clock.sleeps == []


def test_unprocessed_keys_are_asked_again_after_a_pause():
    client = FakeClient(range(5), stubborn=2, served=1)
    backoff, clock = policy()
    found = read(client, [key(n) for n in range(5)], backoff)
    assert sorted(found) == [f"T#{n}" for n in range(5)]
    assert [[k["pk"]["S"] for k in call[TABLE]["Keys"]] for call in client.calls] == [
        ["T#0", "T#1", "T#2", "T#3", "T#4"], ["T#1", "T#2", "T#3", "T#4"], ["T#2", "T#3", "T#4"]]
    assert clock.sleeps == [0.05, 0.1]


def test_keys_left_unprocessed_after_the_last_attempt_are_an_error():
    client = FakeClient(range(5), stubborn=10)
    backoff, clock = policy(attempts=3)
    with pytest.raises(RuntimeError) as raised:
        read(client, [key(n) for n in range(5)], backoff)
    assert str(raised.value) == "gave up"
    assert len(client.calls) == 3
    assert clock.sleeps == [0.05, 0.1]


def test_the_projection_and_its_names_are_sent_with_every_call():
    client = FakeClient(range(3), stubborn=1)
    backoff, _ = policy()
    read(client, [key(n) for n in range(3)], backoff, consistent=False, projection="#v", names={"#v": "value"})
    assert len(client.calls) == 2
    for call in client.calls:
        assert call[TABLE]["ProjectionExpression"] == "#v"
        assert call[TABLE]["ExpressionAttributeNames"] == {"#v": "value"}
        assert call[TABLE]["ConsistentRead"] is False


def test_no_keys_make_no_call():
    client = FakeClient(range(3))
    backoff, _ = policy()
    assert read(client, [], backoff) == {}
    batch_items.write_items(client, TABLE, [], backoff, "gave up")
    assert client.calls == []


def delete(n: int) -> dict[str, Any]:
    return {"DeleteRequest": {"Key": key(n)}}


def test_writes_go_in_calls_of_25_and_unprocessed_ones_are_sent_again():
    client = FakeClient(range(60), stubborn=1, served=10)
    backoff, clock = policy()
    batch_items.write_items(client, TABLE, [delete(n) for n in range(60)], backoff, "gave up")
    assert client.items == {}
    assert sorted(client.deleted) == sorted(f"T#{n}" for n in range(60))
    assert [len(call[TABLE]) for call in client.calls] == [25, 15, 25, 10]
    assert clock.sleeps == [0.05]


def test_writes_left_unprocessed_after_the_last_attempt_are_an_error():
    client = FakeClient(range(5), stubborn=10, served=0)
    backoff, _ = policy(attempts=2)
    with pytest.raises(RuntimeError) as raised:
        batch_items.write_items(client, TABLE, [delete(n) for n in range(5)], backoff, "no deletions")
    assert str(raised.value) == "no deletions"
    assert len(client.calls) == 2
    assert len(client.items) == 5


def test_the_module_imports_nothing_heavy():
    """The stats function reads through it at cold start, without pynamodb."""
    code = ("import sys; before = set(sys.modules); import marketplace.platform.batch_items; "
            "print(sorted(set(sys.modules) - before))")
    loaded = subprocess.run([sys.executable, "-c", code], check=True, capture_output=True, text=True).stdout
    for heavy in ("boto3", "botocore", "pynamodb", "aws_lambda_powertools"):
        assert heavy not in loaded, loaded
