"""The parts of ``marketplace import`` that need no AWS: reading a package's identity (``peek``, also of hostile
archives), naming the files (paths, directories, globs, each file once), refusals before anything is sent, the
report; and the publishing service's side of it against the in-memory store: the operator's principal, namespaces
the operator creates, mirrored namespaces. ``tests/integration/test_import.py`` runs imports through the ingest."""

from __future__ import annotations

import io
from pathlib import Path

import pytest

from marketplace.platform.errors import BadRequest, Conflict, Forbidden, NotFound, Unauthorized
from marketplace.publishing import audit, importer
from marketplace.publishing.importer import Outcome, PackageId
from marketplace.publishing.service import OPERATOR_PREFIX, Publishing
from tests import vsix_factory
from tests.fakes.publishing_store import FakePublishingStore

# --- peek -----------------------------------------------------------------------------------------------


def test_peek_reads_the_identity_from_the_manifests():
    found = importer.peek(vsix_factory.vsix_bytes(publisher="SomePub", name="Hello-World", version="2.0.1",
                                                  target_platform="linux-x64"))
    assert found == PackageId("SomePub", "Hello-World", "2.0.1", "linux-x64")
    assert found.namespace == "somepub" and found.extension_id == "somepub.hello-world"
    assert importer.peek(vsix_factory.vsix_bytes()).target_platform == "universal"


@pytest.mark.parametrize("case", vsix_factory.HOSTILE_CASES, ids=lambda c: c.name)
def test_peek_never_fails_but_with_a_bad_request_on_hostile_packages(tmp_path, case):
    """Whatever the bytes, ``peek`` answers an identity (the ingest then judges the package) or a BadRequest
    with a reason: never another exception, never more than a manifest's size read."""
    data = case.build(tmp_path / "bad.vsix").read_bytes()
    try:
        found = importer.peek(data)
    except BadRequest as error:
        assert error.message and "\n" not in error.message
    else:
        assert isinstance(found, PackageId)


@pytest.mark.parametrize(("name", "mentions"), [
    ("not-a-zip", "not a readable .vsix package"),
    ("empty-file", "not a readable .vsix package"),
    ("missing-package-json", "extension/package.json"),
    ("missing-vsixmanifest", "extension.vsixmanifest"),
    ("malformed-json", "package.json is not valid JSON"),
    ("billion-laughs", "DTD"),
    ("bad-publisher", "Some Pub"),
    ("bad-semver", '"version"'),
    ("oversized-package-json", "at most"),
])
def test_peek_says_why_it_cannot_read_a_package(tmp_path, name, mentions):
    case = next(c for c in vsix_factory.HOSTILE_CASES if c.name == name)
    with pytest.raises(BadRequest) as refused:
        importer.peek(case.build(tmp_path / "bad.vsix").read_bytes())
    assert mentions in refused.value.message


def test_peek_reads_no_more_than_a_manifest_whatever_the_headers_say():
    """A package.json whose headers claim a few bytes but whose data inflates to 50 MiB."""
    bomb = b"{" + b" " * (50 * 1024 * 1024) + b"}"
    entries = [e if e.name != "extension/package.json" else vsix_factory.RawEntry(e.name, bomb, size=100)
               for e in vsix_factory.vsix_entries()]
    writer = vsix_factory.ZipWriter()
    for entry in entries:
        writer.add(entry)
    with pytest.raises(BadRequest):
        importer.peek(writer.finish())


def test_a_package_with_a_path_traversal_is_left_to_the_ingest(tmp_path):
    """Its manifests read fine: the ingest refuses it, in its own words."""
    case = next(c for c in vsix_factory.HOSTILE_CASES if c.name == "dot-dot")
    assert importer.peek(case.build(tmp_path / "bad.vsix").read_bytes()).extension_id == "somepub.hello"


# --- refusals before anything is sent ---------------------------------------------------------------------


def test_an_unreadable_package_is_rejected_before_anything_is_sent():
    outcome = importer.import_package(b"not a zip", source="x.vsix")
    assert outcome.status == "rejected" and outcome.extension_id is None
    assert outcome.reason is not None and "not a readable .vsix package" in outcome.reason


def test_a_package_larger_than_uploads_take_is_rejected_before_it_is_sent(monkeypatch, tmp_path):
    monkeypatch.setenv("MAX_UPLOAD_BYTES", "100")
    data = vsix_factory.vsix_bytes()
    outcome = importer.import_package(data, source="big.vsix")
    assert outcome.status == "rejected" and outcome.extension_id == "somepub.hello"
    assert outcome.reason == f"the package is {len(data)} bytes; this marketplace accepts at most 100 bytes"
    (tmp_path / "big.vsix").write_bytes(data)
    [listed] = importer.import_all([tmp_path])  # the file is not even read
    assert listed.status == "rejected" and listed.reason == outcome.reason and listed.extension_id is None


# --- paths ---------------------------------------------------------------------------------------------


def _tree(root: Path) -> dict[str, Path]:
    files = {"a": root / "a.vsix", "b": root / "sub" / "deeper" / "b.VSIX", "c": root / "sub" / "c.vsix"}
    for path in files.values():
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(b"x")
    (root / "sub" / "notes.txt").write_text("not a package")
    (root / "sub" / "dir.vsix").mkdir()  # a directory named like a package is not one
    return files


def test_directories_are_searched_for_vsix_files_at_any_depth(tmp_path):
    files = _tree(tmp_path)
    found, missing = importer.expand([tmp_path])
    assert found == [files["a"], files["c"], files["b"]] and missing == []  # a directory's files, then deeper


def test_globs_and_files_name_each_file_once_in_the_order_named(tmp_path):
    files = _tree(tmp_path)
    (tmp_path / "link.vsix").symlink_to(files["a"])
    found, missing = importer.expand([str(tmp_path / "sub" / "*.vsix"), files["a"], tmp_path,
                                      str(tmp_path / "**" / "b.VSIX"), tmp_path / "link.vsix"])
    assert found == [files["c"], files["a"], files["b"]] and missing == []


def test_paths_naming_nothing_are_reported(tmp_path):
    found, missing = importer.expand([tmp_path / "gone.vsix", str(tmp_path / "*.nothing")])
    assert found == []
    assert [(o.source, o.status, o.reason) for o in missing] == [
        (str(tmp_path / "gone.vsix"), "rejected", "cannot read: No such file or directory"),
        (str(tmp_path / "*.nothing"), "rejected", "no file matches this pattern")]


def test_import_all_reports_unreadable_files_and_goes_on(tmp_path):
    (tmp_path / "dangling.vsix").symlink_to(tmp_path / "nowhere")
    (tmp_path / "junk.vsix").write_bytes(b"junk")
    seen: list[tuple[int, int]] = []
    outcomes = importer.import_all([tmp_path, tmp_path / "missing.vsix"], jobs=2,
                                   progress=lambda done, total: seen.append((done, total)))
    assert [(Path(o.source).name, o.status) for o in outcomes] == [
        ("missing.vsix", "rejected"), ("dangling.vsix", "rejected"), ("junk.vsix", "rejected")]
    assert outcomes[1].reason == "cannot read: No such file or directory"
    assert outcomes[2].reason is not None and "not a readable .vsix package" in outcomes[2].reason
    assert seen[0] == (1, 3) and sorted(seen)[-1] == (3, 3) and len(seen) == 3


@pytest.mark.parametrize("jobs", [0, 17])
def test_jobs_are_bounded(tmp_path, jobs):
    with pytest.raises(ValueError, match="jobs must be from 1 to 16"):
        importer.import_all([tmp_path], jobs=jobs)


# --- the report ----------------------------------------------------------------------------------------


OUTCOMES = [
    Outcome("pkgs/a.vsix", "published", "acme.a", "1.0.0", "universal"),
    Outcome("pkgs/b.vsix", "present", "acme.b", "2.0.0", "linux-x64"),
    Outcome("pkgs/evil\x1b[31m.vsix", "rejected", "acme.evil", "1.0.0", "universal",
            "extension/../x: path traversal"),
    Outcome("pkgs/junk.vsix", "rejected", reason="the file is not a readable .vsix package"),
]


def test_the_summary_is_a_table_and_counts():
    lines = importer.summary_table(OUTCOMES).splitlines()
    assert lines[0].split() == ["status", "extension", "version", "target", "source", "reason"]
    assert lines[1].split() == ["published", "acme.a", "1.0.0", "universal", "pkgs/a.vsix"]
    assert lines[3].split()[:5] == ["rejected", "acme.evil", "1.0.0", "universal", "pkgs/evil?[31m.vsix"]
    assert lines[3].endswith("extension/../x: path traversal") and "\x1b" not in "".join(lines)
    assert lines[4].split()[:5] == ["rejected", "-", "-", "-", "pkgs/junk.vsix"]
    assert len({line.index("pkgs/") for line in lines[1:]}) == 1  # the columns line up
    assert importer.counts(OUTCOMES) == {"published": 1, "present": 1, "rejected": 2}
    assert importer.counts_line(OUTCOMES) == "1 published, 1 already present, 2 rejected"
    assert importer.counts([]) == {"published": 0, "present": 0, "rejected": 0}


def test_the_progress_bar():
    assert importer.bar(12, 40, width=10) == "[===>      ] 12/40"
    assert importer.bar(0, 3, width=4) == "[>   ] 0/3"
    assert importer.bar(40, 40, width=10) == "[==========] 40/40"
    stream = io.StringIO()
    show = importer.progress_bar(stream)
    show(1, 2)
    show(2, 2)
    assert stream.getvalue() == "\r" + importer.bar(1, 2) + "\r" + importer.bar(2, 2) + "\n"


def test_outcomes_are_json():
    assert OUTCOMES[1].as_json() == {"source": "pkgs/b.vsix", "status": "present", "extension_id": "acme.b",
                                     "version": "2.0.0", "target_platform": "linux-x64", "reason": None}


# --- the service: the operator, namespaces it creates, mirrored namespaces ------------------------------


@pytest.fixture
def fake() -> FakePublishingStore:
    return FakePublishingStore()


@pytest.fixture
def publishing(fake: FakePublishingStore) -> Publishing:
    return Publishing(fake)


def test_the_operator_covers_every_namespace_that_exists_without_membership(publishing: Publishing):
    publishing.create_publisher("acme", "alice")
    operator = publishing.principal_of(OPERATOR_PREFIX + importer.IMPORT_CLIENT)
    assert operator.operator and operator.user == audit.OPERATOR and operator.namespaces == frozenset()
    assert operator.token_id == "operator:marketplace import" and operator.covers("anything")
    assert publishing.authorize(operator, "acme").name == "acme"
    with pytest.raises(Forbidden, match="namespace 'nowhere' does not exist"):
        publishing.authorize(operator, "nowhere")


def test_no_token_or_session_is_the_operator(publishing: Publishing):
    _, token = publishing.create_publisher("acme", "operator")  # a user who merely calls themselves that
    principal = publishing.authenticate(token)
    assert not principal.operator and not principal.token_id.startswith(OPERATOR_PREFIX)
    assert not publishing.principal_of(principal.token_id).operator
    with pytest.raises(Forbidden, match="may not publish to namespace 'other'"):
        publishing.authorize(principal, "other")
    for value in ("operator:marketplace import", "Bearer operator:marketplace import", "mkp_operator:x"):
        with pytest.raises(Unauthorized):
            publishing.authenticate(value)


def test_the_operator_creates_namespaces_with_or_without_an_owner(publishing: Publishing,
                                                                  fake: FakePublishingStore):
    with audit.acting(audit.Actor(audit.OPERATOR, importer.IMPORT_CLIENT)):
        owned = publishing.create_namespace_as_operator("acme", owner="alice")
        mirrored = publishing.create_namespace_as_operator("upstream-ns", mirrored_from="https://open-vsx.org")
    assert owned.mirrored_from is None and [m.user for m in fake.members("acme")] == ["alice"]
    assert mirrored.mirrored_from == "https://open-vsx.org" and fake.members("upstream-ns") == []
    assert mirrored.created_by == audit.OPERATOR and not mirrored.local_publishing
    [entry] = fake.audit_entries("upstream-ns")
    assert (entry.actor, entry.client, entry.action) == ("operator", "marketplace import", "namespace.create")
    assert entry.as_json()["details"] == {"owner": None, "mirroredFrom": "https://open-vsx.org"}
    assert not any(sk == "TOKEN" for _, sk in fake.table)  # no token is made
    with pytest.raises(Forbidden, match=r"reserved.*--allow-reserved"):
        publishing.create_namespace_as_operator("microsoft", owner="alice")
    assert publishing.create_namespace_as_operator("microsoft", allow_reserved=True).reserved_override
    with pytest.raises(Conflict, match="reads like the existing namespace 'acme'"):
        publishing.create_namespace_as_operator("acrne", owner="mallory")
    with pytest.raises(BadRequest, match="not an upstream"):
        publishing.create_namespace_as_operator("other", mirrored_from="file:///etc/passwd")


def test_a_mirrored_namespace_is_the_mirrors_unless_the_operator_allows_local_publishing(
        publishing: Publishing, fake: FakePublishingStore):
    publishing.create_namespace_as_operator("mirrored", owner="alice", mirrored_from="https://open-vsx.org")
    alice = publishing.authenticate(publishing.create_token("alice", ["mirrored"]))
    with pytest.raises(Forbidden) as refused:
        publishing.authorize(alice, "mirrored")
    assert "mirrored from https://open-vsx.org" in refused.value.message
    assert "marketplace publisher mirrored mirrored --allow-local-publishing" in refused.value.message
    operator = publishing.principal_of("operator:marketplace mirror")
    assert publishing.authorize(operator, "mirrored").name == "mirrored"

    assert publishing.set_local_publishing("mirrored", True).local_publishing
    assert publishing.authorize(alice, "mirrored").name == "mirrored"
    assert publishing.set_local_publishing("mirrored", True).local_publishing  # again: nothing changes
    assert [e.action for e in fake.audit_entries("mirrored")].count("namespace.local_publishing") == 1
    assert not publishing.set_local_publishing("mirrored", False).local_publishing
    with pytest.raises(Forbidden, match="mirrored from"):
        publishing.authorize(alice, "mirrored")

    publishing.create_publisher("plain", "bob")
    with pytest.raises(BadRequest, match="not mirrored"):
        publishing.set_local_publishing("plain", True)
    with pytest.raises(NotFound):
        publishing.set_local_publishing("nowhere", True)
