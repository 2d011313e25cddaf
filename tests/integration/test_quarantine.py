"""Update diffs and quarantine: a suspicious update is stored but offered nowhere until an owner confirms it
(and, with SCAN_REQUIRE_OPERATOR_APPROVAL, an operator approves it); an operator may reject it instead."""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any

import pytest

from marketplace.catalog import store as catalog
from marketplace.cli import scan_decisions
from marketplace.publishing import service
from marketplace.search import indexer, loader
from tests import vsix_factory
from tests.integration.gallery_catalog import c, call, query, results
from tests.integration.publishing_api import call as publish_api
from tests.integration.test_ingest import Publisher, _status
from tests.integration.test_openvsx_api import api

SUSPICIOUS = {"extra_files": {"extension/bin/helper.node": b"\x7fELF" + b"\0" * 60},
              "package_json_overrides": {"activationEvents": ["*"]}}
CONFIRM = "/api/publish/extensions/somepub/hello/versions/1.0.1/confirm"


@pytest.fixture
def held(deployment) -> Iterator[tuple[Publisher, str]]:
    publisher = Publisher(deployment)
    publisher.upload(vsix_factory.vsix_bytes(version="1.0.0"))
    upload_id, _ = publisher.upload(vsix_factory.vsix_bytes(version="1.0.1", **SUSPICIOUS))
    yield publisher, upload_id
    loader.reset()


def _search_versions() -> list[str]:
    indexer.rebuild()
    loader.reset()
    body = api("/-/search", "query=hello").json
    return [e["version"] for e in body["extensions"]]


def _visible() -> dict[str, Any]:
    extensions, _ = results(query(c(7, "somepub.hello"), c(8, "Microsoft.VisualStudio.Code"), flags=0x1 | 0x2))
    versions = {v["version"] for v in extensions[0]["versions"]} if extensions else set()
    vspackage = call("GET", "/publishers/somepub/vsextensions/hello/1.0.1/vspackage").status
    return {"query": versions, "openvsx": api("/somepub/hello").json["version"],
            "latest": api("/somepub/hello/latest").json["version"],
            "version_101": api("/somepub/hello/1.0.1").status, "vspackage_101": vspackage,
            "search": _search_versions()}


HIDDEN = {"query": {"1.0.0"}, "openvsx": "1.0.0", "latest": "1.0.0", "version_101": 404, "vspackage_101": 404,
          "search": ["1.0.0"]}


def _audit(action: str) -> list[Any]:
    return [e for e in service.audit_log("somepub") if e.action == action]


def test_a_suspicious_update_is_held_until_the_owner_confirms(held):
    publisher, upload_id = held
    record = _status(upload_id)
    assert record.status == "quarantined"
    assert "update.native-binary" in (record.reason or "") and "update.activation" in (record.reason or "")
    version = catalog.get_version("somepub.hello", "1.0.1", "universal")
    assert version is not None and version.quarantined and version.quarantine_reason == record.reason
    assert _visible() == HIDDEN
    status, body = publish_api("GET", f"/api/publish/uploads/{upload_id}", publisher.token)
    assert status == 200 and body["status"] == "quarantined" and "helper.node" in body["reason"]
    assert json.loads(_audit("extension.quarantine")[0].details)["version"] == "1.0.1"

    status, body = publish_api("POST", CONFIRM, publisher.token)
    assert status == 200 and body["released"] == ["1.0.1@universal"], body
    assert _visible() == {"query": {"1.0.0", "1.0.1"}, "openvsx": "1.0.1", "latest": "1.0.1", "version_101": 200,
                          "vspackage_101": 302, "search": ["1.0.1"]}
    assert _audit("extension.quarantine.confirm")
    status, _ = publish_api("POST", CONFIRM, publisher.token)
    assert status == 404  # nothing is held any more


def test_contributors_cannot_confirm(held):
    service.add_member("somepub", "carol", "contributor")
    token = service.create_token("carol", ["somepub"])
    status, body = publish_api("POST", CONFIRM, token)
    assert status == 403, body
    assert catalog.get_version("somepub.hello", "1.0.1", "universal").quarantined  # type: ignore[union-attr]


def test_with_operator_approval_required_the_owner_is_not_enough(held, monkeypatch):
    publisher, _ = held
    monkeypatch.setenv("SCAN_REQUIRE_OPERATOR_APPROVAL", "true")
    status, body = publish_api("POST", CONFIRM, publisher.token)
    assert status == 200 and body["released"] == [] and body["awaitingOperator"] == ["1.0.1@universal"]
    assert _visible() == HIDDEN
    (listed,) = scan_decisions.quarantined()
    assert (listed["extension"], listed["version"], listed["confirmedBy"]) == ("somepub.hello", "1.0.1",
                                                                                "owner-of-somepub")
    assert any("update.native-binary" in finding for finding in listed["findings"])
    from marketplace.publishing import audit, lifecycle

    with audit.acting(audit.Actor(audit.OPERATOR, "marketplace CLI")):
        assert lifecycle.approve_quarantined("somepub.hello", "1.0.1") == ["1.0.1@universal"]
    assert _visible()["latest"] == "1.0.1"
    assert _audit("extension.quarantine.approve")[0].actor == audit.OPERATOR


def test_the_operator_rejects_a_held_version(held):
    from marketplace.publishing import audit, lifecycle

    with audit.acting(audit.Actor(audit.OPERATOR, "marketplace CLI")):
        assert lifecycle.reject_quarantined("somepub.hello", "1.0.1") == ["1.0.1@universal"]
    version = catalog.get_version("somepub.hello", "1.0.1", "universal")
    assert version is not None and version.unpublished_at is not None
    assert _visible() == HIDDEN
    assert _audit("extension.quarantine.reject")
    publisher, _ = held
    status, _ = publish_api("POST", CONFIRM, publisher.token)
    assert status == 404


def test_an_update_below_the_threshold_publishes_with_warnings(deployment):
    publisher = Publisher(deployment)
    publisher.upload(vsix_factory.vsix_bytes(version="1.0.0"))
    upload_id, _ = publisher.upload(vsix_factory.vsix_bytes(
        version="1.0.1", package_json_overrides={"activationEvents": ["*"]}))
    record = _status(upload_id)
    assert record.status == "published" and any("update.activation" in w for w in record.warning_list())


def test_the_owner_confirms_on_the_statistics_page(held):
    from tests.integration.test_publisher_area import signed_in, status

    owner = signed_in("owner-of-somepub")
    page = owner.get("/manage/extensions/somepub/hello")
    assert status(page) == 200 and "Quarantined versions" in page["body"] and "helper.node" in page["body"]
    form = "/manage/extensions/somepub/hello/versions/1.0.1/confirm"
    stale = owner.request("POST", form, form={"csrf": "forged", "targetPlatform": "universal"})
    assert status(stale) == 403
    assert status(owner.post(form, {"targetPlatform": "universal"})) == 303
    assert catalog.get_version("somepub.hello", "1.0.1", "universal").quarantined is False  # type: ignore[union-attr]
    assert "Quarantined versions" not in owner.get("/manage/extensions/somepub/hello")["body"]
