"""The mirror's plan (closure, cycles, deny, version rules) on an in-memory upstream, its report, and the checks
of what it downloads (marketplace.mirror.engine)."""

from __future__ import annotations

import hashlib
import io
import json
import zipfile
from typing import Any

import pytest

from marketplace.mirror import engine
from marketplace.mirror.engine import Build, Line, Missing, Report, parse_sha256, plan, verify_signature
from marketplace.mirror.lists import parse_allow, parse_deny
from marketplace.mirror.upstream import Refused, UpstreamError, UpstreamNotFound
from tests.fakes.openvsx_upstream import signer

BASE = "https://up.example"


class MemoryUpstream:
    """What ``plan`` asks of an ``Upstream``, answered from dictionaries: ``extensions[id][version]`` is the
    ExtensionJson of that version (the highest one is the latest)."""

    def __init__(self, extensions: dict[str, dict[str, dict[str, Any]]], failing: frozenset[str] = frozenset()):
        self.extensions = extensions
        self.failing = failing
        self.base_url = BASE
        self.requests = 0
        self.asked: list[str] = []

    def extension(self, namespace: str, name: str, *, target_platform: str | None = None,
                  version: str | None = None) -> dict[str, Any]:
        key = f"{namespace}.{name}".lower()
        self.requests += 1
        self.asked.append(key + (f"@{version}" if version else ""))
        if key in self.failing:
            raise UpstreamError("HTTP 500 from the upstream (after 5 attempts)")
        versions = self.extensions.get(key)
        if not versions or (version is not None and version not in versions):
            raise UpstreamNotFound(f"not found: {key}")
        from marketplace.catalog.semver import Version

        chosen = versions[version] if version else versions[max(versions, key=Version)]
        return {**chosen, "allVersions": {"latest": "x", **{v: "x" for v in versions}}}

    def namespace(self, namespace: str) -> dict[str, Any]:
        self.requests += 1
        names = [k.partition(".")[2] for k in self.extensions if k.partition(".")[0] == namespace]
        if not names:
            raise UpstreamNotFound(namespace)
        return {"name": namespace, "extensions": {n: "x" for n in names}}

    def search_all(self) -> list[dict[str, Any]]:
        self.requests += 1
        return [{"namespace": k.partition(".")[0], "name": k.partition(".")[2]} for k in self.extensions]

    def versions(self, url: str) -> list[str]:
        raise AssertionError("not used: allVersions is given")

    def check_url(self, url: str) -> str:
        return url


def ext(extension_id: str, version: str = "1.0.0", *, deps: tuple[str, ...] = (), pack: tuple[str, ...] = (),
        platforms: tuple[str, ...] = ("universal",), pre: bool = False) -> dict[str, Any]:
    namespace, _, name = extension_id.partition(".")
    return {"namespace": namespace, "name": name, "version": version, "targetPlatform": platforms[0],
            "preRelease": pre, "downloads": {p: "x" for p in platforms},
            "dependencies": [{"namespace": d.partition(".")[0], "extension": d.partition(".")[2], "url": "x"}
                             for d in deps],
            "bundledExtensions": [{"namespace": d.partition(".")[0], "extension": d.partition(".")[2], "url": "x"}
                                  for d in pack]}


def catalog(*entries: dict[str, Any]) -> dict[str, dict[str, dict[str, Any]]]:
    found: dict[str, dict[str, dict[str, Any]]] = {}
    for entry in entries:
        found.setdefault(f"{entry['namespace']}.{entry['name']}", {})[entry["version"]] = entry
    return found


def planned(upstream: MemoryUpstream, allow: str | None, deny: str = "") -> engine.Plan:
    return plan(upstream, parse_allow(allow) if allow is not None else None, parse_deny(deny), jobs=1)  # type: ignore[arg-type]


def builds(result: engine.Plan) -> list[tuple[str, str, str, str | None]]:
    return [(b.extension_id, b.version, b.target_platform, b.added_for) for b in result.builds]


def test_the_closure_follows_dependencies_and_packs_through_cycles():
    upstream = MemoryUpstream(catalog(
        ext("a.app", deps=("a.lib",), pack=("p.pack",)),
        ext("a.lib", deps=("a.base",)),
        ext("a.base", deps=("a.app",)),  # a cycle back to the start
        ext("p.pack", pack=("a.app", "p.pack")),  # and one to itself
    ))
    result = planned(upstream, "a.app\n")
    assert builds(result) == [("a.app", "1.0.0", "universal", None), ("a.lib", "1.0.0", "universal", "a.app"),
                              ("p.pack", "1.0.0", "universal", "a.app"), ("a.base", "1.0.0", "universal", "a.lib")]
    assert result.added == {"a.lib": "a.app", "p.pack": "a.app", "a.base": "a.lib"}
    assert result.wanted == ["a.app", "a.lib", "p.pack", "a.base"]
    assert upstream.asked == ["a.app", "a.lib", "p.pack", "a.base"]  # each extension asked once
    assert result.requests == 4 and result.missing == [] and result.denied == []


def test_a_listed_closure_member_keeps_its_own_rule_and_is_not_added():
    upstream = MemoryUpstream(catalog(ext("a.app", deps=("a.lib",)), ext("a.lib", "1.0.0"), ext("a.lib", "2.0.0")))
    result = planned(upstream, "a.app\na.lib version=^1.0.0\n")
    assert builds(result) == [("a.app", "1.0.0", "universal", None), ("a.lib", "1.0.0", "universal", None)]
    assert result.added == {}


def test_deny_wins_over_the_allow_list_the_namespace_and_the_closure():
    upstream = MemoryUpstream(catalog(ext("a.app", deps=("b.lib", "a.ok")), ext("a.ok"), ext("a.no"), ext("b.lib"),
                                      ext("c.thing")))
    result = planned(upstream, "a\nc.thing\n", deny="a.no\nb\nc.thing\n")
    assert builds(result) == [("a.app", "1.0.0", "universal", None), ("a.ok", "1.0.0", "universal", None)]
    assert result.denied == ["a.no", "c.thing"]
    assert result.missing == [Missing("b.lib", "on the deny-list", "a.app")]
    assert "b.lib" not in upstream.asked and "c.thing" not in upstream.asked
    assert planned(upstream, "a\n", deny="a\n").denied == ["a"]


def test_closure_members_take_the_newest_version_on_the_platforms_of_who_needs_them():
    upstream = MemoryUpstream(catalog(
        ext("a.app", platforms=("linux-x64", "win32-x64"), deps=("a.native",)),
        ext("a.native", "1.0.0", platforms=("linux-x64", "win32-x64", "darwin-arm64")),
        ext("a.native", "1.1.0", platforms=("linux-x64", "win32-x64", "darwin-arm64")),
        ext("a.native", "1.2.0", platforms=("linux-x64",), pre=True),
    ))
    result = planned(upstream, "a.app platforms=linux-x64\n")
    assert builds(result) == [("a.app", "1.0.0", "linux-x64", None), ("a.native", "1.1.0", "linux-x64", "a.app")]


def test_versions_are_chosen_newest_first_skipping_pre_releases_and_other_platforms():
    upstream = MemoryUpstream(catalog(ext("a.x", "1.0.0"), ext("a.x", "1.1.0"), ext("a.x", "1.2.0", pre=True),
                                      ext("a.x", "1.3.0", platforms=("web",)), ext("a.x", "2.0.0")))
    assert [b.version for b in planned(upstream, "a.x version=^1 latest=2 platforms=universal\n").builds] == [
        "1.1.0", "1.0.0"]
    assert [b.version for b in planned(upstream, "a.x version=^1 prerelease=yes\n").builds] == ["1.3.0"]
    assert [b.version for b in planned(upstream, "a.x\n").builds] == ["2.0.0"]
    upstream.asked.clear()
    planned(upstream, "a.x\n")
    assert upstream.asked == ["a.x"]  # the newest qualifies: one request
    result = planned(upstream, "a.x version=3.0.0\n")
    assert result.builds == [] and result.missing == [Missing("a.x", "no upstream version matches a.x version=3.0.0")]


def test_the_metadata_of_the_build_read_is_kept_for_the_run():
    upstream = MemoryUpstream(catalog(ext("a.x", platforms=("universal", "linux-x64"))))
    first, second = planned(upstream, "a.x\n").builds
    assert first.metadata is not None and first.metadata["targetPlatform"] == "universal"
    assert second.target_platform == "linux-x64" and second.metadata is None


def test_failures_and_absences_are_told_apart():
    upstream = MemoryUpstream(catalog(ext("a.app", deps=("vscode.git",)), ext("a.broken")),
                              failing=frozenset({"a.broken"}))
    result = planned(upstream, "a.app\na.broken\na.gone\nnobody\n")
    assert result.missing == [
        Missing("nobody", "no such namespace on the upstream"),
        Missing("a.broken", "HTTP 500 from the upstream (after 5 attempts)", failed=True),
        Missing("a.gone", "not found on the upstream"),
        Missing("vscode.git", "not found on the upstream", "a.app")]


def test_without_an_allow_list_the_search_lists_everything_newest_only():
    upstream = MemoryUpstream(catalog(ext("a.x", "1.0.0"), ext("a.x", "2.0.0", pre=True), ext("b.y", deps=("a.x",))))
    result = planned(upstream, None)
    assert builds(result) == [("a.x", "2.0.0", "universal", None), ("b.y", "1.0.0", "universal", None)]
    assert result.added == {}


def test_an_upstream_that_answers_for_another_extension_is_not_believed():
    upstream = MemoryUpstream(catalog(ext("a.x")))
    upstream.extensions["a.y"] = upstream.extensions["a.x"]
    result = planned(upstream, "a.y\n")
    assert result.builds == [] and result.missing == [
        Missing("a.y", "asked for a.y, the upstream answered a.x", failed=True)]


# ------------------------------------------------------------------------------------------------ report


def report_of(*lines: Line, missing: tuple[Missing, ...] = ()) -> Report:
    return Report(BASE, list(lines), {"a.lib": "a.app"}, ["a.no"], list(missing), bytes_transferred=3 * 1048576,
                  requests=12, seconds=1.5)


def test_the_report_counts_tells_and_fails():
    report = report_of(Line("a.app", "1.0.0", "universal", "published", signature=engine.VERIFIED, bytes=10),
                       Line("a.lib", "1.0.0", "universal", "present", "already here: not downloaded",
                            added_for="a.app"),
                       Line("a.old", "0.1.0", "linux-x64", "published", signature=engine.UNSIGNED))
    assert report.ok
    assert report.totals == {"published": 2, "present": 1, "rejected": 0, "failed": 0, "planned": 0, "unsigned": 1,
                             "missing": 0, "denied": 1}
    table = report.table().splitlines()
    assert table[0].split() == ["status", "extension", "version", "target", "signature", "reason"]
    assert table[2].split(maxsplit=5) == ["present", "a.lib", "1.0.0", "universal", "-",
                                          "already here: not downloaded; added for a.app"]
    assert "added a.lib for a.app" in table and "denied a.no" in table
    assert table[-1] == ("2 published, 1 already present (skipped), 0 rejected, 0 failed; 1 unsigned, 0 missing, "
                         "1 denied; 3.0 MiB in 12 requests, 1.5 s")
    data = json.loads(json.dumps(report.as_json()))
    assert data["ok"] is True and data["versions"][0]["signature"] == "verified" and data["added"] == {
        "a.lib": "a.app"}
    rejected = report_of(Line("a.app", "1.0.0", "universal", "rejected", "SHA-256 mismatch"))
    failed = report_of(missing=(Missing("a.x", "HTTP 500", failed=True),))
    absent = report_of(missing=(Missing("vscode.git", "not found on the upstream", "a.app"),))
    assert not rejected.ok and not failed.ok and absent.ok
    assert "failed a.x: HTTP 500" in failed.table() and "missing vscode.git: not found" in absent.table()


def test_a_dry_run_report_says_what_would_be_fetched():
    report = Report(BASE, [Line("a.app", "1.0.0", "universal", "planned", "would be fetched")], {}, [], [],
                    dry_run=True)
    assert report.counts_line().startswith("1 to fetch, 0 already present; ")


def test_terminal_control_characters_never_reach_the_table():
    report = report_of(Line("a.app", "1.0.0", "universal", "rejected", "bad\x1b[31m\nthing"))
    assert "\x1b" not in report.table() and "bad?[31m?thing" in report.table()


# ---------------------------------------------------------------------------------------------- checks


def test_sha256_documents():
    digest = hashlib.sha256(b"x").hexdigest()
    assert parse_sha256(digest.encode()) == digest
    assert parse_sha256(f"{digest.upper()}  acme.x-1.0.0.vsix\n".encode()) == digest
    for bad in (b"", b"nope", digest[:-1].encode(), b"\xff" * 64):
        with pytest.raises(Refused, match="holds no SHA-256"):
            parse_sha256(bad)


def test_signatures_of_this_marketplace_verify_and_others_are_noted():
    from marketplace.publishing import signing

    key = signer()
    package = b"PK package bytes"
    archive = signing.signature_archive(key, "acme", "x", "1.0.0", "universal", len(package),
                                        hashlib.sha256(package).hexdigest())
    assert verify_signature(archive, package, key.public_pem) == engine.VERIFIED
    with pytest.raises(Refused, match=r"^the signature does not verify: the package is not the one that was signed$"):
        verify_signature(archive, package + b"!", key.public_pem)
    with pytest.raises(Refused, match=r"^the signature does not verify: the signature does not match the manifest$"):
        verify_signature(archive, package, signer().public_pem)
    with pytest.raises(Refused, match=r"^the signature does not verify: "):
        verify_signature(archive, package, b"-----BEGIN PUBLIC KEY-----\nnot a key\n-----END PUBLIC KEY-----\n")
    with pytest.raises(Refused, match="signature archive cannot be read"):
        verify_signature(b"not a zip", package, key.public_pem)
    other = io.BytesIO()
    with zipfile.ZipFile(other, "w") as opened:  # Open VSX's own format: a manifest of entries
        opened.writestr(".signature.manifest", json.dumps({"package": {"size": 1, "digests": {"sha256": "x"}},
                                                           "entries": {}}))
        opened.writestr(".signature.sig", "c2ln")
    assert verify_signature(other.getvalue(), package, key.public_pem) == engine.OTHER_FORMAT


def test_a_plan_without_its_client_cannot_run():
    empty = engine.Plan(BASE, [Build("a", "x", "1.0.0", "universal")], ["a.x"], {}, [], [])
    with pytest.raises(ValueError, match="no upstream client"):
        engine.run(empty, object(), max_bytes=1)  # type: ignore[arg-type]
    dry = engine.run(empty, object(), dry_run=True, max_bytes=1)  # type: ignore[arg-type]
    assert [line.status for line in dry.lines] == ["planned"]
