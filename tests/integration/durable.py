"""The durable hooks' test set-up: moto in-process with the test AWS settings, the service modules' hooks
installed, and a data store active for the hooks to write to."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest

from marketplace.local import durable
from marketplace.local.durable.store import DataStore
from marketplace.platform import aws
from tests.integration.conftest import AWS_ENV


@contextmanager
def active_store(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, *installs: Callable[[], None]) -> Iterator[DataStore]:
    monkeypatch.delenv("AWS_ENDPOINT_URL", raising=False)
    for name, value in AWS_ENV.items():
        monkeypatch.setenv(name, value)
    for install in installs:
        install()
    data = DataStore(tmp_path / "data")
    durable.activate(data)
    aws.reset_clients()
    try:
        yield data
    finally:
        durable.activate(None)
        aws.reset_clients()
        data.close()
