"""The download event has one definition: what the gallery puts on the stream is what the stats consumer
reads back, field for field."""

from __future__ import annotations

import json

from marketplace.gallery.downloads import download_event
from marketplace.stats import events


def test_the_gallerys_event_reads_back_as_the_same_event() -> None:
    event = download_event("Pub.Ext", "1.2.3", "linux-x64", "install", {"X-Market-Client-Id": "VSCode 1.100.3"})
    assert events.parse(event.encode()) == event
    assert (event.extension, event.client, event.type) == ("pub.ext", "VSCode 1.100.3", "install")
    assert events.read(event.encode()).events == [event]


def test_the_record_carries_the_fields_the_consumer_and_the_lake_read() -> None:
    record = json.loads(download_event("pub.ext", "1.0.0", None, "download").encode())
    assert list(record) == ["type", "id", "extension", "version", "target_platform", "client", "at"]
    assert record["target_platform"] is None and record["client"] is None and len(record["id"]) == 32
