"""A data directory that cannot take a write (disk or quota full): the write fails with a 503 JSON answer, nothing
of it is kept, what was stored before is untouched, and writes work again once there is room."""

from __future__ import annotations

import json
from collections.abc import Iterable, Iterator
from pathlib import Path

import boto3
import pytest
from botocore.exceptions import ClientError
from moto.moto_api._internal.models import moto_api_backend

from marketplace.local.durable.store import Put, StorageFull
from marketplace.local.runtime import LocalMarketplace
from marketplace.platform.functions import SYNC
from tests.e2e.conftest import http

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def runtime(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LocalMarketplace]:
    moto_api_backend.reset()  # one moto per process: another runtime's resources go, as in a new process
    try:
        with LocalMarketplace(port=0, functions=(SYNC,),
                              data_dir=tmp_path_factory.mktemp("full") / "data") as marketplace:
            yield marketplace
    finally:
        moto_api_backend.reset()


def _write(runtime: LocalMarketplace, token: str, content: str, ref: str) -> tuple[int, dict[str, str], bytes]:
    return http("POST", f"{runtime.base_url}/sync/v1/resource/settings", content.encode(),
                {"Authorization": f"Bearer {token}", "X-Account-Type": "local", "Content-Type": "text/plain",
                 "If-Match": ref}, timeout=60)


def _latest(runtime: LocalMarketplace, token: str) -> str:
    status, _, body = http("GET", f"{runtime.base_url}/sync/v1/resource/settings/latest",
                           headers={"Authorization": f"Bearer {token}", "X-Account-Type": "local"})
    assert status == 200, body
    return body.decode()


def test_a_full_data_directory_answers_503_and_keeps_what_it_had(runtime: LocalMarketplace,
                                                                 monkeypatch: pytest.MonkeyPatch):
    assert runtime.local_issuer is not None and runtime.data is not None
    token = runtime.local_issuer.mint("alice", runtime.base_url)
    status, headers, body = _write(runtime, token, '{"kept": true}', "0")
    assert status == 200, body
    ref = headers["etag"]
    store = runtime.data.store

    def full(changes: Iterable[Put]) -> None:
        raise StorageFull(28, f"the data directory {store.directory} is full: No space left on device")

    monkeypatch.setattr(store, "apply", full)
    status, headers, body = _write(runtime, token, '{"lost": true}', ref)
    answer = json.loads(body)
    assert status == 503 and answer["error"] == "service_unavailable" and "Retry" in answer["message"], body
    assert headers.get("retry-after") == "5"
    with pytest.raises(ClientError) as refused:  # what any SDK client of the emulator sees
        s3 = boto3.session.Session().client("s3", endpoint_url=runtime.moto_endpoint)
        s3.put_object(Bucket="marketplace-local-packages", Key="x", Body=b"x")
    assert refused.value.response["Error"]["Code"] == "ServiceUnavailable"
    monkeypatch.undo()
    assert json.loads(_latest(runtime, token)) == {"kept": True}  # what was stored is untouched
    status, _, body = _write(runtime, token, '{"after": true}', ref)  # room again: writes work
    assert status == 200, body
    assert json.loads(_latest(runtime, token)) == {"after": True}


def test_the_data_directory_is_where_it_was_asked_to_be(runtime: LocalMarketplace):
    assert runtime.data is not None and (runtime.data.path / "FORMAT").exists()
    assert isinstance(runtime.data.path, Path)
