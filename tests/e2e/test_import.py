"""``marketplace import`` against a running local marketplace: a directory of packages lands through the real
ingest (visible at ``/api/{namespace}/{extension}``), a hostile one is reported by file and reason with exit
status 1, a second run finds every good one present and uploads nothing, and a namespace that does not exist is
created only with ``--create-namespaces``."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from marketplace.platform import resources as r
from tests.e2e.conftest import Served, http, wait_until
from tests.vsix_factory import RawEntry, build_vsix, vsix_entries, write_zip

pytestmark = pytest.mark.slow

GOOD = [("imppub", "hello", "1.0.0", None), ("imppub", "hello", "1.1.0", "linux-x64"),
        ("imppub", "other", "0.1.0", None)]


def _versions(served: Served, namespace: str, name: str) -> set[str]:
    status, _, body = http("GET", f"{served.base_url}/api/{namespace}/{name}")
    if status != 200:
        return set()
    return set(json.loads(body).get("allVersions", {})) - {"latest", "pre-release"}


def _uploads(served: Served) -> int:
    """How many upload records the marketplace holds (each one is a package sent to the ingest)."""
    stage = json.loads(Path(served.env["MARKETPLACE_STATE_FILE"]).read_text())["stage"]
    table = r.PUBLISHING_TABLE.physical_name(stage)
    pages = served.client("dynamodb").get_paginator("scan").paginate(
        TableName=table, FilterExpression="sk = :upload", ExpressionAttributeValues={":upload": {"S": "UPLOAD"}})
    return sum(len(page["Items"]) for page in pages)


def _outcomes(result: object) -> dict[str, dict[str, str | None]]:
    return {Path(o["source"]).name: o for o in json.loads(result.stdout)}  # type: ignore[attr-defined]


def test_a_directory_is_imported_the_hostile_package_reported_and_a_rerun_sends_nothing(served: Served,
                                                                                       tmp_path: Path):
    served.cli("publisher", "create", "imppub", "--owner", "alice")
    packages = tmp_path / "packages"
    (packages / "nested").mkdir(parents=True)
    for publisher, name, version, target in GOOD:
        build_vsix(packages / "nested" / f"{name}-{version}.vsix", publisher=publisher, name=name, version=version,
                   target_platform=target)
    write_zip(packages / "evil.vsix", [*vsix_entries(publisher="imppub", name="evil"),
                                       RawEntry("extension/../../etc/cron.d/x", b"* * * * * root sh")])
    (packages / "readme.txt").write_text("not a package")

    first = served.cli("import", str(packages), check=False)
    assert first.returncode == 1, first.stderr
    rows = {line.split()[0]: line for line in first.stdout.splitlines()[1:] if line.strip()}
    evil = next(line for line in first.stdout.splitlines() if "evil.vsix" in line)
    assert evil.startswith("rejected") and "imppub.evil" in evil and ".." in evil
    assert first.stdout.strip().splitlines()[-1] == "3 published, 0 already present, 1 rejected."
    assert "published" in rows and "Traceback" not in first.stderr and "[" not in first.stderr  # no TTY: no bar
    assert wait_until(lambda: _versions(served, "imppub", "hello") == {"1.0.0", "1.1.0"}, timeout=30)
    assert _versions(served, "imppub", "other") == {"0.1.0"} and _versions(served, "imppub", "evil") == set()

    sent = _uploads(served)
    again = served.cli("import", str(packages / "nested"), str(packages / "nested" / "*.vsix"), "--json",
                       "--jobs", "2", check=False)
    assert again.returncode == 0, again.stderr
    outcomes = _outcomes(again)
    assert {name: o["status"] for name, o in outcomes.items()} == {
        "hello-1.0.0.vsix": "present", "hello-1.1.0.vsix": "present", "other-0.1.0.vsix": "present"}
    assert outcomes["hello-1.1.0.vsix"]["target_platform"] == "linux-x64"
    assert _uploads(served) == sent  # nothing was sent again

    audit = json.loads(served.cli("publisher", "audit", "imppub", "--json").stdout)
    publishes = [e for e in audit if e["action"] == "extension.publish"]
    assert len(publishes) == 3 and {(e["actor"], e["client"]) for e in publishes} == {
        ("operator", "marketplace import")}


def test_a_namespace_that_does_not_exist_is_created_only_when_asked(served: Served, tmp_path: Path):
    package = build_vsix(tmp_path / "fresh.vsix", publisher="freshns", name="tool", version="3.0.0")
    refused = served.cli("import", str(package), "--json", check=False)
    assert refused.returncode == 1
    [outcome] = json.loads(refused.stdout)
    assert outcome["status"] == "rejected" and "--create-namespaces" in outcome["reason"]
    assert _versions(served, "freshns", "tool") == set()

    landed = served.cli("import", str(package), "--create-namespaces", "--owner", "bob", check=False)
    assert landed.returncode == 0, landed.stdout + landed.stderr
    assert landed.stdout.strip().splitlines()[-1] == "1 published, 0 already present, 0 rejected."
    assert wait_until(lambda: _versions(served, "freshns", "tool") == {"3.0.0"}, timeout=30)
    listed = {p["namespace"]: p for p in json.loads(served.cli("publisher", "list", "--json").stdout)}
    assert listed["freshns"]["members"] == [{"user": "bob", "role": "owner"}]
    assert listed["freshns"]["mirrored_from"] is None

    not_mirrored = served.cli("publisher", "mirrored", "freshns", "--allow-local-publishing", check=False)
    assert not_mirrored.returncode == 1 and "not mirrored" in not_mirrored.stderr


@pytest.mark.parametrize("arguments", [
    ["--create-namespaces"],  # without --owner
    ["--owner", "bob"],  # without --create-namespaces
    ["--jobs", "0"],
    ["--jobs", "17"],
])
def test_usage_errors_exit_2(served: Served, tmp_path: Path, arguments: list[str]):
    result = served.cli("import", str(tmp_path), *arguments, check=False)
    assert result.returncode == 2 and result.stderr.startswith("marketplace import: ")


def test_a_bundle_needs_a_trusted_key(served: Served, tmp_path: Path):
    result = served.cli("import", str(tmp_path / "carry.mkpbundle"), check=False)
    assert result.returncode == 2 and "--trusted-key" in result.stderr
