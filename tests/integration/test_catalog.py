"""Recording versions: immutable versions, a summary that follows the newest release, one transaction."""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, datetime

import pytest

from marketplace.catalog import store
from marketplace.catalog.store import NewVersion


def _version(version: str, *, pre: bool = False, target: str = "universal", upload: str = "u1",
             display: str | None = None) -> NewVersion:
    return NewVersion(
        publisher="SomePub", name="Hello", version=version, target_platform=target, pre_release=pre,
        engine="^1.80.0", sha256="0" * 64, size=10, asset_base=f"assets/somepub/hello/{version}/{target}/{upload}",
        assets={"Microsoft.VisualStudio.Code.Manifest": "application/json"}, upload_id=upload, published_by="alice",
        published_at=datetime.now(UTC), display_name=display or f"Hello {version}", tags=["x"],
    )


def test_first_version_creates_the_extension(deployment):
    store.record_version(_version("1.0.0"))
    extension = store.get_extension("somepub.hello")
    assert extension is not None
    assert (extension.publisher, extension.name, extension.latest_version, extension.version_count) == (
        "SomePub", "Hello", "1.0.0", 1)
    assert extension.display_name == "Hello 1.0.0"
    version = store.get_version("somepub.hello", "1.0.0", "universal")
    assert version is not None
    assert version.assets.as_dict() == {"Microsoft.VisualStudio.Code.Manifest": "application/json"}


def test_summary_follows_the_newest_release(deployment):
    store.record_version(_version("1.1.0"))
    store.record_version(_version("1.0.5"))  # older: listed, but does not lead
    store.record_version(_version("2.0.0-beta.1", pre=True))
    extension = store.get_extension("somepub.hello")
    assert extension is not None
    assert (extension.latest_version, extension.latest_prerelease, extension.display_name) == (
        "1.1.0", "2.0.0-beta.1", "Hello 1.1.0")
    assert extension.version_count == 3 and len(store.versions("somepub.hello")) == 3


def test_pre_releases_lead_only_until_there_is_a_release(deployment):
    store.record_version(_version("0.1.0", pre=True))
    extension = store.get_extension("somepub.hello")
    assert extension is not None and extension.latest_version is None and extension.display_name == "Hello 0.1.0"
    store.record_version(_version("0.0.9"))
    extension = store.get_extension("somepub.hello")
    assert extension is not None and extension.latest_version == "0.0.9" and extension.display_name == "Hello 0.0.9"


def test_versions_are_immutable_and_per_target(deployment):
    store.record_version(_version("1.0.0", target="linux-x64", upload="first"))
    store.record_version(_version("1.0.0", target="darwin-arm64", upload="second"))
    with pytest.raises(store.VersionExists) as raised:
        store.record_version(_version("1.0.0", target="linux-x64", upload="third"))
    assert raised.value.upload_id == "first"
    extension = store.get_extension("somepub.hello")
    assert extension is not None and extension.version_count == 2


def test_a_concurrent_change_is_detected(deployment, monkeypatch):
    store.record_version(_version("1.0.0"))
    stale = store.get_extension("somepub.hello")
    store.record_version(_version("1.1.0"))
    with monkeypatch.context() as patched, pytest.raises(store.ConcurrentChange):
        patched.setattr(store, "get_extension", lambda _id: stale)
        store.record_version(_version("1.2.0"))
    assert store.get_version("somepub.hello", "1.2.0", "universal") is None  # nothing half-written
    extension = store.get_extension("somepub.hello")
    assert extension is not None and extension.latest_version == "1.1.0"


def test_ids_are_case_insensitive(deployment):
    store.record_version(_version("1.0.0"))
    assert store.get_extension("SOMEPUB.HELLO") is not None
    with pytest.raises(store.VersionExists):
        store.record_version(replace(_version("1.0.0"), publisher="somepub", name="hello"))
