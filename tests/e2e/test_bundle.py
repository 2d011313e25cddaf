"""Air-gapped bundles end to end: an upstream marketplace with published packages, ``marketplace mirror
--to-bundle`` against it with a key from ``marketplace bundle keygen``, then ``marketplace import BUNDLE
--trusted-key`` into a fresh marketplace: the packages land; a bundle with one byte flipped is refused whole."""

from __future__ import annotations

import json
import tarfile
from pathlib import Path

import pytest

from tests.e2e.conftest import Served, http, serving
from tests.vsix_factory import build_vsix

pytestmark = pytest.mark.slow

PACKAGES = [("bundlepub", "alpha", "1.0.0", None), ("bundlepub", "alpha", "1.1.0", None),
            ("bundlepub", "beta", "2.0.0", "linux-x64")]


def _versions(served: Served, namespace: str, name: str) -> set[str]:
    status, _, body = http("GET", f"{served.base_url}/api/{namespace}/{name}")
    if status != 200:
        return set()
    return set(json.loads(body).get("allVersions", {})) - {"latest", "pre-release"}


def test_a_signed_bundle_carries_packages_across_the_gap(tmp_path: Path):
    sources = tmp_path / "vsix"
    sources.mkdir()
    for publisher, name, version, target in PACKAGES:
        build_vsix(sources / f"{name}-{version}-{target or 'universal'}.vsix", publisher=publisher, name=name,
                   version=version, target_platform=target)
    (tmp_path / "allow.txt").write_text("bundlepub.alpha latest=all\nbundlepub.beta platforms=linux-x64\n")
    bundle = tmp_path / "carry" / "upstream.mkpbundle"

    with serving(tmp_path / "upstream") as upstream:
        upstream.cli("import", str(sources), "--create-namespaces", "--owner", "alice")
        keys = tmp_path / "keys"
        key_id = upstream.cli("bundle", "keygen", "--out", str(keys)).stdout.strip()
        assert len(key_id) == 16
        upstream.cli("mirror", "--upstream", upstream.base_url, "--allow", str(tmp_path / "allow.txt"),
                     "--to-bundle", str(bundle), "--sign-key", str(keys / "bundle-signing.key"))
    assert bundle.is_file() and [p.name for p in bundle.parent.iterdir()] == [bundle.name]
    with tarfile.open(bundle) as archive:
        names = archive.getnames()
    assert names[:2] == ["bundle/manifest.json", "bundle/manifest.sig"]
    assert {n for n in names if n.startswith("packages/")} == {
        "packages/bundlepub.alpha-1.0.0@universal.vsix", "packages/bundlepub.alpha-1.1.0@universal.vsix",
        "packages/bundlepub.beta-2.0.0@linux-x64.vsix"}
    assert "allow.txt" in names

    public = keys / "bundle-signing.pub"
    with serving(tmp_path / "airgapped") as fresh:
        damaged = tmp_path / "damaged.mkpbundle"
        raw = bytearray(bundle.read_bytes())
        raw[len(raw) // 2] ^= 0x01  # inside a package (the largest part of the archive)
        damaged.write_bytes(bytes(raw))
        refused = fresh.cli("import", str(damaged), "--trusted-key", str(public), check=False)
        assert refused.returncode == 1, refused.stdout + refused.stderr
        assert "nothing was imported" in refused.stdout + refused.stderr
        assert _versions(fresh, "bundlepub", "alpha") == set()

        verified = fresh.cli("bundle", "verify", str(bundle), "--trusted-key", str(public),
                             "--allow-out", str(tmp_path / "carried-allow.txt"))
        assert "3 package(s)" in verified.stdout
        assert (tmp_path / "carried-allow.txt").read_text() == (tmp_path / "allow.txt").read_text()

        imported = fresh.cli("import", str(bundle), "--trusted-key", str(public), "--json")
        outcomes = json.loads(imported.stdout)
        assert sorted((o["extension_id"], o["version"], o["status"]) for o in outcomes) == [
            ("bundlepub.alpha", "1.0.0", "published"), ("bundlepub.alpha", "1.1.0", "published"),
            ("bundlepub.beta", "2.0.0", "published")]
        assert _versions(fresh, "bundlepub", "alpha") == {"1.0.0", "1.1.0"}
        assert _versions(fresh, "bundlepub", "beta") == {"2.0.0"}
        publishers = {p["namespace"]: p for p in json.loads(fresh.cli("publisher", "list", "--json").stdout)}
        assert publishers["bundlepub"]["mirrored_from"] == upstream.base_url  # marked as the mirror marks it

        again = json.loads(fresh.cli("import", str(bundle), "--trusted-key", str(public), "--json").stdout)
        assert {o["status"] for o in again} == {"present"}
