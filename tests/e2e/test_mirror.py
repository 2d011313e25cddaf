"""``marketplace mirror`` between two local marketplaces (``serving()`` twice): what is published upstream is copied
with its dependency and extension pack, verified against the upstream's SHA-256 and repository signature, through
the local ingest; a second run transfers nothing, the next run after an upstream publish takes the new version,
local publishing into a mirrored namespace is refused, and the copy's statistics start at zero."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests import vsix_factory
from tests.e2e.conftest import Served, http, serving, wait_until

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def pair(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[Served, Served]]:
    with serving(tmp_path_factory.mktemp("upstream")) as upstream, serving(tmp_path_factory.mktemp("local")) as local:
        yield upstream, local


def _token(served: Served, namespace: str) -> str:
    return served.cli("publisher", "create", namespace, "--owner", f"{namespace}-owner").stdout.strip().splitlines()[-1]


def _publish(served: Served, token: str, path: Path) -> None:
    served.cli("publish", str(path), "--registry", served.base_url, "--token", token, "--quiet")


def _mirror(local: Served, upstream: Served, *args: str, check: bool = True) -> dict:
    result = local.cli("mirror", "--upstream", upstream.base_url, "--rate", "0", "--json", *args, check=False)
    if check:
        assert result.returncode == 0, result.stdout + result.stderr
    return dict(json.loads(result.stdout))


def _api(served: Served, path: str) -> tuple[int, dict]:
    status, _, body = http("GET", f"{served.base_url}/api/{path}")
    return status, json.loads(body) if body else {}


def test_mirroring_between_two_marketplaces(pair: tuple[Served, Served], tmp_path: Path):
    upstream, local = pair
    acme, tools = _token(upstream, "acme"), _token(upstream, "tools")
    packages = {
        "app": vsix_factory.build_vsix(tmp_path / "app.vsix", publisher="acme", name="app",
                                       package_json_overrides={"extensionDependencies": ["acme.lib"]}),
        "lib": vsix_factory.build_vsix(tmp_path / "lib.vsix", publisher="acme", name="lib"),
        "other": vsix_factory.build_vsix(tmp_path / "other.vsix", publisher="acme", name="other"),
        "pack": vsix_factory.build_vsix(tmp_path / "pack.vsix", publisher="tools", name="pack",
                                        package_json_overrides={"extensionPack": ["acme.app"]}),
    }
    for name, path in packages.items():
        _publish(upstream, tools if name == "pack" else acme, path)
    status, published = _api(upstream, "acme/app")
    assert status == 200 and published["files"]["publicKey"].endswith(".pem")  # the upstream signs and says how

    allow = tmp_path / "allow.txt"
    allow.write_text("# the pack brings acme.app, which brings its dependency acme.lib\ntools.pack\n")
    dry = _mirror(local, upstream, "--allow", str(allow), "--dry-run")
    assert dry["totals"]["planned"] == 3 and dry["bytesTransferred"] == 0
    assert _api(local, "tools/pack")[0] == 404

    first = _mirror(local, upstream, "--allow", str(allow))
    got = {(v["extension_id"], v["version"]): (v["status"], v["signature"]) for v in first["versions"]}
    assert got == {("tools.pack", "1.0.0"): ("published", "verified"), ("acme.app", "1.0.0"): ("published", "verified"),
                   ("acme.lib", "1.0.0"): ("published", "verified")}
    assert first["added"] == {"acme.app": "tools.pack", "acme.lib": "acme.app"}
    assert first["bytesTransferred"] == sum(p.stat().st_size for n, p in packages.items() if n != "other")
    assert _api(local, "acme/other")[0] == 404  # not allow-listed, not needed: not copied

    status, mirrored = _api(local, "acme/app")
    assert status == 200 and mirrored["version"] == "1.0.0"
    assert [d["extension"] for d in mirrored["dependencies"]] == ["lib"]
    assert mirrored["downloadCount"] == 0 and mirrored["reviewCount"] == 0 and "averageRating" not in mirrored

    second = _mirror(local, upstream, "--allow", str(allow))
    assert second["totals"]["present"] == 3 and second["totals"]["published"] == 0
    assert second["bytesTransferred"] == 0 and second["requests"] == 3  # one metadata request per extension

    newer = vsix_factory.build_vsix(tmp_path / "lib-1.1.0.vsix", publisher="acme", name="lib", version="1.1.0")
    _publish(upstream, acme, newer)
    third = _mirror(local, upstream, "--allow", str(allow))
    assert [(v["extension_id"], v["version"], v["status"]) for v in third["versions"] if v["status"] != "present"] == [
        ("acme.lib", "1.1.0", "published")]
    assert _api(local, "acme/lib")[1]["version"] == "1.1.0"

    # The mirrored namespace is the mirror's: a member's own publish is refused, naming the upstream.
    local.cli("publisher", "member", "acme", "bob", "--role", "owner")
    token = json.loads(local.cli("token", "create", "--user", "bob", "--namespace", "acme", "--json").stdout)["token"]
    mine = vsix_factory.build_vsix(tmp_path / "mine.vsix", publisher="acme", name="app", version="9.0.0")
    refused = local.cli("publish", str(mine), "--registry", local.base_url, "--token", token, "--quiet", check=False)
    assert refused.returncode == 1 and "mirrored from" in refused.stderr and upstream.base_url in refused.stderr
    assert _api(local, "acme/app")[1]["version"] == "1.0.0"


def test_usage_errors_and_the_policy(pair: tuple[Served, Served], tmp_path: Path):
    upstream, local = pair
    allow = tmp_path / "allow.txt"
    allow.write_text("acme.app version=^1.0.0\nacme.app\n")
    bad = local.cli("mirror", "--upstream", upstream.base_url, "--allow", str(allow), check=False)
    assert bad.returncode == 2 and f"{allow}:2: acme.app is already listed on line 1" in bad.stderr
    allow.write_text("acme.app version=1.0.0 platforms=universal\n")
    deny = tmp_path / "deny.txt"
    deny.write_text("acme.lib\n")
    policy = local.cli("mirror", "--upstream", upstream.base_url, "--allow", str(allow), "--deny", str(deny),
                       "--print-policy")
    assert json.loads(policy.stdout) == {"extensions.allowed": {"acme.app": ["1.0.0"], "acme.lib": False}}
    def everything() -> dict | None:  # no allow-list: what the upstream's search lists, newest versions
        planned = _mirror(local, upstream, "--dry-run")
        ids = {v["extension_id"] for v in planned["versions"]}
        return planned if {"acme.app", "acme.lib", "acme.other", "tools.pack"} <= ids else None

    listed = wait_until(everything, timeout=30, interval=1)
    assert {(v["extension_id"], v["version"], v["status"]) for v in listed["versions"]} >= {
        ("acme.lib", "1.1.0", "present"), ("acme.other", "1.0.0", "planned")}
    nothing = local.cli("mirror", "--upstream", "http://127.0.0.1:9", "--allow", str(allow), "--rate", "0", "--json",
                        check=False)
    assert nothing.returncode == 1 and json.loads(nothing.stdout)["missing"][0]["failed"] is True


def test_registry_names_which_local_marketplace_an_operator_command_acts_on(pair: tuple[Served, Served]):
    """Two marketplaces on one machine: ``--registry URL`` picks one, whatever the state file says."""
    upstream, local = pair
    upstream.cli("publisher", "create", "only-upstream", "--owner", "someone@example.com")
    listed = local.cli("publisher", "list", "--json", "--registry", upstream.base_url)
    assert "only-upstream" in {entry["namespace"] for entry in json.loads(listed.stdout)}
    assert "only-upstream" not in {e["namespace"] for e in json.loads(local.cli("publisher", "list", "--json").stdout)}
    nowhere = local.cli("publisher", "list", "--registry", "http://127.0.0.1:9", check=False)
    assert nowhere.returncode == 2 and "no local marketplace is running at http://127.0.0.1:9" in nowhere.stderr
    assert upstream.base_url in nowhere.stderr  # it names the ones that are running


def test_a_download_tampered_with_upstream_is_refused_and_nothing_of_it_lands(pair: tuple[Served, Served],
                                                                              tmp_path: Path):
    """The upstream's stored package is changed after it was published (its SHA-256 document still names the
    original): the mirror reports the version by id and reason and publishes nothing of it."""
    from marketplace.platform import resources as r

    upstream, local = pair
    token = _token(upstream, "tampered")
    _publish(upstream, token, vsix_factory.build_vsix(tmp_path / "t.vsix", publisher="tampered", name="tool"))
    s3 = upstream.client("s3")
    bucket = f"{r.PRODUCT}-local-{r.PACKAGES_BUCKET.id}"
    keys = [o["Key"] for o in s3.list_objects_v2(Bucket=bucket, Prefix=f"{r.PACKAGES_BUCKET.public_prefix}tampered/")
            .get("Contents", []) if o["Key"].endswith("/Microsoft.VisualStudio.Services.VSIXPackage")]
    assert keys, "the upstream stores the package under its public prefix"
    for key in keys:
        body = bytearray(s3.get_object(Bucket=bucket, Key=key)["Body"].read())
        body[len(body) // 2] ^= 0xFF  # same size, other bytes
        s3.put_object(Bucket=bucket, Key=key, Body=bytes(body))
    allow = tmp_path / "tampered.txt"
    allow.write_text("tampered.tool\n")
    report = _mirror(local, upstream, "--allow", str(allow), check=False)
    (line,) = [v for v in report["versions"] if v["extension_id"] == "tampered.tool"]
    assert line["status"] in ("rejected", "failed") and "SHA-256" in (line["reason"] or ""), line
    assert _api(local, "tampered/tool")[0] == 404
