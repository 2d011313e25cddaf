"""The mirror engine against a fake upstream on 127.0.0.1 (``tests.fakes.openvsx_upstream``) speaking Open VSX's
shapes: the closure, signatures, and every fault reported by id and reason with nothing handed on; then the same
with the real importer and ingest (moto) as the sink."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from marketplace.catalog import store as catalog
from marketplace.mirror import engine, lists
from marketplace.mirror.upstream import RetryPolicy, Upstream
from marketplace.platform.retry import Backoff
from marketplace.publishing import importer, store
from tests import vsix_factory
from tests.fakes.openvsx_upstream import FakeUpstream, Fault, serving, signer


class MemorySink:
    def __init__(self) -> None:
        self.got: dict[tuple[str, str, str], bytes] = {}
        self.versions: list[engine.UpstreamVersion] = []
        self.closed = False

    def is_present(self, build: engine.Build) -> bool:
        return (build.extension_id, build.version, build.target_platform) in self.got

    def accept(self, data: bytes, version: engine.UpstreamVersion) -> importer.Outcome:
        self.got[(version.extension_id, version.version, version.target_platform)] = data
        self.versions.append(version)
        return importer.Outcome(version.download_url, "published", version.extension_id, version.version,
                                version.target_platform)

    def close(self) -> None:
        self.closed = True


@pytest.fixture
def upstream() -> Iterator[FakeUpstream]:
    with serving() as running:
        yield running


def client(fake: FakeUpstream, attempts: int = 3) -> Upstream:
    return Upstream(fake.base, rate=0, timeout=5, retry=RetryPolicy(Backoff(attempts, 0.01, 0.02)))


def package(name: str, version: str = "1.0.0", publisher: str = "acme", **overrides) -> bytes:
    return vsix_factory.vsix_bytes(publisher=publisher, name=name, version=version,
                                   package_json_overrides=overrides or None)


def mirror(fake: FakeUpstream, allow_text: str | None, sink: MemorySink | None = None, deny_text: str = "",
           **options) -> tuple[engine.Report, MemorySink]:
    sink = sink or MemorySink()
    allow = lists.parse_allow(allow_text) if allow_text is not None else None
    planned = engine.plan(client(fake), allow, lists.parse_deny(deny_text))
    return engine.run(planned, sink, jobs=2, max_bytes=10 * 1024 * 1024, **options), sink


def lines(report: engine.Report) -> dict[str, engine.Line]:
    return {f"{line.extension_id}@{line.version}": line for line in report.lines}


def test_the_closure_is_mirrored_verified_and_a_second_run_downloads_nothing(upstream):
    upstream.add(package("app", extensionDependencies=["acme.lib"], extensionPack=["tools.pack"]))
    upstream.add(package("lib", "2.0.0"))
    upstream.add(package("lib", "1.0.0"))
    upstream.add(package("pack", publisher="tools", extensionPack=["acme.app"]))  # a cycle back to app
    upstream.add(package("other"))
    report, sink = mirror(upstream, "acme.app\n")
    assert report.ok and sink.closed
    assert {k: v.status for k, v in lines(report).items()} == {
        "acme.app@1.0.0": "published", "acme.lib@2.0.0": "published", "tools.pack@1.0.0": "published"}
    assert report.added == {"acme.lib": "acme.app", "tools.pack": "acme.app"}
    assert lines(report)["acme.lib@2.0.0"].added_for == "acme.app"
    assert {v.signature for v in sink.versions} == {engine.VERIFIED}
    assert sink.got[("acme.app", "1.0.0", "universal")] == upstream.packages[0].data
    assert report.bytes_transferred == sum(len(d) for d in sink.got.values())
    assert report.totals["published"] == 3
    version = next(v for v in sink.versions if v.extension_id == "acme.app")
    assert not {"downloadCount", "reviewCount", "averageRating"} & set(version.metadata)  # statistics stay upstream
    assert version.metadata["name"] == "app" and version.sha256 == __import__("hashlib").sha256(
        upstream.packages[0].data).hexdigest()

    upstream.log.clear()
    again, _ = mirror(upstream, "acme.app\n", sink)
    assert again.ok and again.totals["present"] == 3 and again.bytes_transferred == 0
    assert upstream.requests_to("/files/") == []
    assert sorted(upstream.log) == ["/api/acme/app", "/api/acme/lib", "/api/tools/pack"]  # one request each


def test_a_new_upstream_version_is_fetched_by_the_next_run(upstream):
    upstream.add(package("app"))
    _report, sink = mirror(upstream, "acme.app\n")
    upstream.add(package("app", "1.1.0"))
    again, _ = mirror(upstream, "acme.app\n", sink)
    assert [(line.version, line.status) for line in again.lines] == [("1.1.0", "published")]


def test_a_tampered_download_is_refused_by_id_and_reason(upstream):
    good = upstream.add(package("app"))
    upstream.swapped[upstream.download_path(good)] = package("app", description="tampered")
    report, sink = mirror(upstream, "acme.app\n")
    [line] = report.lines
    assert (line.extension_id, line.version, line.status) == ("acme.app", "1.0.0", "rejected")
    assert (line.reason or "").startswith("SHA-256 mismatch: the upstream's document says ")
    assert sink.got == {} and not report.ok


def test_429_then_200_is_retried_after_the_retry_after(upstream):
    upstream.add(package("app"))
    upstream.fail("/api/acme/app", Fault(429, {"Retry-After": "0"}))
    upstream.fail("/files/acme.app-1.0.0.vsix", Fault(503, {"Retry-After": "0"}))
    report, _sink = mirror(upstream, "acme.app\n")
    assert report.ok and [line.status for line in report.lines] == ["published"]
    assert upstream.log.count("/api/acme/app") == 2
    assert upstream.log.count("/files/acme.app-1.0.0.vsix") == 2


def test_a_500_forever_is_reported_as_failed(upstream):
    upstream.add(package("app"))
    upstream.add(package("lib"))
    upstream.always["/files/acme.app-1.0.0.vsix"] = Fault(500)
    upstream.always["/api/acme/lib"] = Fault(500)
    report, sink = mirror(upstream, "acme.app\nacme.lib\n")
    [line] = report.lines
    assert (line.extension_id, line.status) == ("acme.app", "failed")
    assert line.reason == "HTTP 500 from " + upstream.base + "/files/acme.app-1.0.0.vsix (after 3 attempts)"
    [missing] = report.missing
    assert (missing.extension_id, missing.failed) == ("acme.lib", True) and "HTTP 500" in missing.reason
    assert upstream.log.count("/api/acme/lib") == 3 and not report.ok and sink.got == {}


def test_a_truncated_download_is_refused(upstream):
    upstream.add(package("app"))
    upstream.always["/files/acme.app-1.0.0.vsix"] = Fault(truncate=100)
    report, sink = mirror(upstream, "acme.app\n")
    [line] = report.lines
    assert line.status == "rejected" and (line.reason or "").startswith("truncated download: 100 of ")
    assert upstream.log.count("/files/acme.app-1.0.0.vsix") == 3  # the network may be at fault: tried again
    assert sink.got == {}


def test_a_signature_that_does_not_verify_is_refused(upstream):
    upstream.add(package("app"), key=signer())  # signed by a key other than the one the upstream publishes
    report, sink = mirror(upstream, "acme.app\n")
    [line] = report.lines
    assert (line.status, line.reason) == ("rejected", "the signature does not verify: the signature does not "
                                                      "match the manifest")
    assert sink.got == {}


def test_unsigned_and_keyless_upstreams_are_noted(upstream):
    upstream.add(package("plain"), signed=False)
    upstream.add(package("keyless"), publish_key=False)
    report, _sink = mirror(upstream, "acme.plain\nacme.keyless\n")
    assert report.ok
    assert {line.extension_id: line.signature for line in report.lines} == {
        "acme.plain": engine.UNSIGNED, "acme.keyless": engine.NO_KEY}
    assert report.totals["unsigned"] == 1


def test_a_package_that_is_not_what_was_listed_is_refused(upstream):
    good = upstream.add(package("app"))
    other = package("evil")
    good.data = other  # the digest document now matches, but the package is another extension
    report, _sink = mirror(upstream, "acme.app\n")
    [line] = report.lines
    assert line.status == "rejected"
    # the signature covers the original bytes, but the identity is checked before it
    assert line.reason == "the package is acme.evil 1.0.0 (universal), not what the upstream listed"


def test_deny_wins_over_the_allow_list_and_the_closure(upstream):
    upstream.add(package("app", extensionDependencies=["acme.lib", "bad.thing"]))
    upstream.add(package("lib"))
    upstream.add(package("thing", publisher="bad"))
    upstream.add(package("x", publisher="bad"))
    report, _sink = mirror(upstream, "acme\nbad.x\n", deny_text="acme.lib\nbad\n")
    assert [line.extension_id for line in report.lines] == ["acme.app"]
    assert report.denied == ["acme.lib", "bad.x"]
    assert [(m.extension_id, m.reason, m.added_for) for m in report.missing] == [
        ("bad.thing", "on the deny-list", "acme.app")]
    assert upstream.requests_to("/api/bad") == [] and report.ok


def test_missing_dependencies_are_reported_not_failed(upstream):
    upstream.add(package("app", extensionDependencies=["vscode.git"]))
    report, _ = mirror(upstream, "acme.app\nacme.gone\n")
    assert report.ok
    assert [(m.extension_id, m.reason, m.added_for) for m in report.missing] == [
        ("acme.gone", "not found on the upstream", None), ("vscode.git", "not found on the upstream", "acme.app")]


def test_versions_platforms_and_prereleases_follow_the_rules(upstream):
    for number in ("1.0.0", "1.1.0", "1.2.0", "2.0.0"):
        upstream.add(package("app", number))
    upstream.add(package("app", "1.3.0"), pre_release=True)
    for platform in ("linux-x64", "win32-x64", "darwin-arm64"):
        upstream.add(vsix_factory.vsix_bytes(publisher="acme", name="native", version="3.0.0",
                                             target_platform=platform))
    report, _ = mirror(upstream, "acme.app version=^1.0.0 latest=2\nacme.native platforms=linux-x64,win32-x64\n",
                       dry_run=True)
    assert [(line.extension_id, line.version, line.target_platform, line.status) for line in report.lines] == [
        ("acme.app", "1.2.0", "universal", "planned"), ("acme.app", "1.1.0", "universal", "planned"),
        ("acme.native", "3.0.0", "linux-x64", "planned"), ("acme.native", "3.0.0", "win32-x64", "planned")]
    assert upstream.requests_to("/files/") == []  # a dry run downloads nothing
    with_pre, _ = mirror(upstream, "acme.app version=^1.0.0 prerelease=yes\n", dry_run=True)
    assert [line.version for line in with_pre.lines] == ["1.3.0"]
    every, _ = mirror(upstream, "acme.app latest=all\n", dry_run=True)
    assert [line.version for line in every.lines] == ["2.0.0", "1.2.0", "1.1.0", "1.0.0"]
    nothing, _ = mirror(upstream, "acme.app version=^3.0.0\n", dry_run=True)
    assert [m.reason for m in nothing.missing] == ["no upstream version matches acme.app version=^3.0.0"]


def test_without_an_allow_list_everything_listed_is_mirrored_newest_only(upstream):
    for index in range(5):
        upstream.add(package(f"ext{index}"))
    upstream.add(package("ext0", "0.9.0"))
    upstream.add(package("ext0", "1.1.0"))
    planned = engine.plan(client(upstream), None)
    assert sorted((b.extension_id, b.version) for b in planned.builds) == [
        ("acme.ext0", "1.1.0"), ("acme.ext1", "1.0.0"), ("acme.ext2", "1.0.0"), ("acme.ext3", "1.0.0"),
        ("acme.ext4", "1.0.0")]
    assert any("/api/-/search" in path for path in upstream.log)


def test_redirects_to_other_schemes_and_urls_on_other_origins_are_refused(upstream):
    upstream.add(package("app"))
    upstream.add(package("lib"))
    upstream.always["/files/acme.app-1.0.0.vsix"] = Fault(redirect="file:///etc/passwd")
    upstream.always["/files/acme.lib-1.0.0.sha256"] = Fault(redirect="ftp://127.0.0.1/x.sha256")
    report, sink = mirror(upstream, "acme.app\nacme.lib\n")
    reasons = {line.extension_id: (line.status, line.reason) for line in report.lines}
    assert reasons["acme.app"][0] == "rejected" and "refused a redirect" in str(reasons["acme.app"][1])
    assert reasons["acme.lib"][0] == "rejected" and "refused a redirect" in str(reasons["acme.lib"][1])
    assert sink.got == {}


def test_a_url_outside_the_upstream_is_never_fetched(upstream, monkeypatch):
    upstream.add(package("app"))
    original = upstream.extension_json

    def elsewhere(found):
        answer = original(found)
        answer["files"]["download"] = "http://169.254.169.254/latest/meta-data"
        return answer

    monkeypatch.setattr(upstream, "extension_json", elsewhere)
    report, _ = mirror(upstream, "acme.app\n")
    [line] = report.lines
    assert line.status == "rejected" and (line.reason or "").startswith("the upstream named a URL outside ")


# ------------------------------------------------------------------------------ the real importer and ingest


def test_the_real_importer_publishes_into_a_mirrored_namespace(deployment, upstream):
    from tests.integration.test_import import deliver

    upstream.add(package("app", extensionDependencies=["acme.lib"]))
    upstream.add(package("lib"))
    sink = engine.ImportSink(upstream.base, wait=deliver(deployment))
    planned = engine.plan(client(upstream), lists.parse_allow("acme.app\n"))
    report = engine.run(planned, sink, jobs=2)
    assert report.ok, report.table()
    assert sorted((line.extension_id, line.status) for line in report.lines) == [
        ("acme.app", "published"), ("acme.lib", "published")]
    namespace = store.get_namespace("acme")
    assert namespace is not None and namespace.mirrored_from == upstream.base and not namespace.local_publishing
    version = catalog.get_version("acme.app", "1.0.0", "universal")
    assert version is not None and version.published_by == "operator"
    upstream.log.clear()
    again = engine.run(engine.plan(client(upstream), lists.parse_allow("acme.app\n")), sink, jobs=2)
    assert again.totals["present"] == 2 and upstream.requests_to("/files/") == []


def test_a_package_the_ingest_refuses_is_reported_in_its_words(deployment, upstream):
    from tests.integration.test_import import deliver

    upstream.add(package("app", engines={"vscode": "not a range"}))
    report = engine.run(engine.plan(client(upstream), lists.parse_allow("acme.app\n")),
                        engine.ImportSink(upstream.base, wait=deliver(deployment)), jobs=1)
    [line] = report.lines
    assert line.status == "rejected" and line.reason and not report.ok
    assert catalog.get_version("acme.app", "1.0.0", "universal") is None
