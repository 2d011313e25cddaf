"""The secret scan in the ingest: a package with a secret is refused with the file, line and rule (never the
secret); a rule the operator set to warn publishes, with the finding in the upload status."""

from __future__ import annotations

import json

import pytest

from marketplace.catalog import store as catalog
from marketplace.publishing import store, uploads
from tests import scan_corpus, vsix_factory
from tests.integration.test_ingest import Publisher, _keys


def _package_with_a_token() -> bytes:
    return vsix_factory.vsix_bytes(version="1.0.0", extra_files={
        "extension/out/extension.js": "// build\nconst client = new Octokit({\n"
                                      f"  auth: '{scan_corpus.GITHUB_TOKEN}',\n}});\n"})


def _item(upload_id: str) -> store.UploadRecord:
    record = store.find_upload(upload_id)
    assert record is not None
    return record


def test_a_package_with_a_secret_is_rejected_naming_file_line_and_rule(deployment) -> None:
    upload_id, _ = Publisher(deployment).upload(_package_with_a_token())
    record = _item(upload_id)
    status = uploads.view(record)
    assert status["status"] == "rejected"
    assert status["reason"] == ("the package was refused by the publish-time scan:\n"
                                "- secret.github-token in extension/out/extension.js line 3: a GitHub token (ghp_…)")
    assert "warnings" not in status
    stored = json.dumps(record.attribute_values, default=str)
    assert scan_corpus.GITHUB_TOKEN[4:] not in stored and scan_corpus.GITHUB_TOKEN[4:12] not in stored
    assert catalog.get_version("somepub.hello", "1.0.0", "universal") is None
    assert _keys(deployment, "assets/somepub/hello/") == []


def test_a_rule_set_to_warn_publishes_with_the_warning(deployment, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("SCAN_WARN_RULES", "secret.github-*")
    upload_id, _ = Publisher(deployment).upload(_package_with_a_token())
    status = uploads.view(_item(upload_id))
    assert status["status"] == "published" and "reason" not in status
    assert status["warnings"] == [
        "secret.github-token in extension/out/extension.js line 3: a GitHub token (ghp_…)"]
    assert catalog.get_version("somepub.hello", "1.0.0", "universal") is not None


def test_a_clean_package_has_no_warnings(deployment) -> None:
    upload_id, _ = Publisher(deployment).upload(vsix_factory.vsix_bytes(version="1.0.1"))
    status = uploads.view(_item(upload_id))
    assert status["status"] == "published" and "warnings" not in status
