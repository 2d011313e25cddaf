"""SQS messages, kept across restarts: after every operation that changes a queue's messages (send, receive,
delete, visibility change, purge, and the redrive to a dead-letter queue moto performs while receiving), the
queue's whole set of messages is recorded (kind ``"sqs"``, key = queue name). The product's queues hold few
messages, so a whole-queue record is small and needs no per-message bookkeeping.

``restore`` runs after provisioning has created the (empty, same-named) queues and puts the messages back with
their ids, bodies, attributes, sent timestamps and receive counts. Every restored message is visible: one that
was in flight when the runtime stopped is delivered again (SQS is at-least-once; its receipt handle is gone).
"""

from __future__ import annotations

import functools
import inspect
import json
import logging
import threading
import weakref
from collections.abc import Callable
from typing import Any

from marketplace.local import durable
from marketplace.local.durable.codec import tagged, untagged
from marketplace.local.durable.store import DataStore, Put

log = logging.getLogger("marketplace.local")

KIND = "sqs"

_OPERATIONS = (
    "send_message", "send_message_batch", "receive_message", "delete_message", "delete_message_batch",
    "change_message_visibility", "change_message_visibility_batch", "purge_queue", "delete_queue",
)
_INSTALLED = "_marketplace_durable_sqs"
_PERSIST = threading.Lock()  # a snapshot and its write together: the last write holds the newest state
_calls = threading.local()  # per thread: nesting depth and the queues the outermost call changed
# per store, the value last written for each queue (only this module writes these records)
_written: weakref.WeakKeyDictionary[DataStore, dict[str, bytes | None]] = weakref.WeakKeyDictionary()


# --------------------------------------------------------------------------------------------- encoding


def encode_message(message: Any) -> dict[str, Any]:
    return {
        "id": message.id,
        "body": message.body,
        "message_attributes": tagged(message.message_attributes),
        "system_attributes": tagged(message.system_attributes),
        "sender_id": message.sender_id,
        "sent_timestamp": message.sent_timestamp,
        "approximate_first_receive_timestamp": message.approximate_first_receive_timestamp,
        "approximate_receive_count": message.approximate_receive_count,
        "deduplication_id": message.deduplication_id,
        "group_id": message.group_id,
        "sequence_number": message.sequence_number,
        "delayed_until": message.delayed_until,
        "md5_of_body": message.body_md5,
        "md5_of_message_attributes": message.attribute_md5 if message.message_attributes else None,
    }


def decode_message(stored: dict[str, Any]) -> Any:
    """A moto ``Message`` as it was, except that it is visible now and has no receipt handle yet."""
    from moto.sqs.models import Message

    message = Message(stored["id"], stored["body"], untagged(stored.get("system_attributes")) or None)
    message.message_attributes = untagged(stored.get("message_attributes") or {})
    message.sender_id = stored.get("sender_id", message.sender_id)
    message.sent_timestamp = stored.get("sent_timestamp")
    message.approximate_first_receive_timestamp = stored.get("approximate_first_receive_timestamp")
    message.approximate_receive_count = int(stored.get("approximate_receive_count", 0))
    message.deduplication_id = stored.get("deduplication_id")
    message.group_id = stored.get("group_id")
    message.sequence_number = stored.get("sequence_number")
    message.delayed_until = float(stored.get("delayed_until", 0.0))
    message.visible_at = 0.0
    return message


def encode_queue(queue: Any) -> bytes | None:
    """The record of a queue's messages; ``None`` when it has none."""
    messages = list(queue._messages)
    if not messages:
        return None
    value = {"account": queue.account_id, "region": queue.region, "queue": queue.name,
             "messages": [encode_message(m) for m in messages]}
    return json.dumps(value, sort_keys=True).encode()


# --------------------------------------------------------------------------------------------- hooks


def install() -> None:
    """Record each queue's messages after every change to them (idempotent; inert while no store is active)."""
    from moto.sqs.models import SQSBackend

    for name in _OPERATIONS:
        original = getattr(SQSBackend, name)
        if not getattr(original, _INSTALLED, False):
            setattr(SQSBackend, name, _hook(original))


def _hook(operation: Callable[..., Any]) -> Callable[..., Any]:
    signature = inspect.signature(operation)

    @functools.wraps(operation)
    def run(backend: Any, *args: Any, **kwargs: Any) -> Any:
        depth = getattr(_calls, "depth", 0)
        if depth == 0:
            _calls.changed = {}
        _calls.depth = depth + 1
        try:
            result = operation(backend, *args, **kwargs)
            queue_name = str(signature.bind(backend, *args, **kwargs).arguments["queue_name"])
            _calls.changed[(id(backend), queue_name)] = (backend, queue_name)
            return result
        finally:
            _calls.depth = depth
            if depth == 0:  # the outermost call records what it and the calls inside it changed
                changed, _calls.changed = _calls.changed, {}
                store = durable.active()
                if store is not None and changed:
                    _record(store, list(changed.values()))

    setattr(run, _INSTALLED, True)
    return run


def _record(store: DataStore, changed: list[tuple[Any, str]]) -> None:
    with _PERSIST:
        changes: dict[str, Put] = {}
        for backend, queue_name in changed:
            queue = backend.queues.get(queue_name)
            if queue is None:  # deleted
                changes[queue_name] = Put(KIND, queue_name, None)
                continue
            for touched in (queue, queue.dead_letter_queue):  # a receive may have moved messages there
                if touched is not None:
                    changes[touched.name] = Put(KIND, touched.name, encode_queue(touched))
        # pollers receive several times a second from queues that are mostly empty: write only what differs
        written = _written.setdefault(store, {})
        news = [c for c in changes.values() if c.key not in written or written[c.key] != c.value]
        store.apply(news)
        written.update((c.key, c.value) for c in news)


# --------------------------------------------------------------------------------------------- restore


def _find_queue(account: str | None, region: str | None, name: str) -> Any:
    from moto.sqs.models import sqs_backends

    candidates = [(a, r, b) for a, r, b in sqs_backends.iter_backends() if name in b.queues]  # type: ignore[attr-defined]
    candidates.sort(key=lambda c: (c[0] != account, c[1] != region))
    return candidates[0][2].queues[name] if candidates else None  # type: ignore[attr-defined]


def restore(store: DataStore) -> None:
    """Put every stored message back into its (freshly provisioned) queue, visible, ids and bodies unchanged."""
    with _PERSIST:
        _written.pop(store, None)
    with durable.restoring():
        for queue_name, value in store.scan(KIND):
            stored = json.loads(value)
            queue = _find_queue(stored.get("account"), stored.get("region"), queue_name)
            if queue is None:
                log.warning("SQS restore: queue %s does not exist; its %d messages stay stored",
                            queue_name, len(stored["messages"]))
                continue
            messages = [decode_message(m) for m in stored["messages"]]
            with queue._messages_lock:
                present = {m.id for m in queue._messages}
                queue._messages.extend(m for m in messages if m.id not in present)
                queue._messages_lock.notify_all()
