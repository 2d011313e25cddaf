"""``ovsx get`` (the official Open VSX CLI, unmodified) against the local marketplace: the latest version, a
version range, a target platform and the metadata, plus the operator's namespace verification as the
Open VSX API shows it."""

from __future__ import annotations

import hashlib
import json
import subprocess
from pathlib import Path

import pytest

from tests import vsix_factory
from tests.e2e.conftest import ROOT, Served, http, wait_until

pytestmark = [pytest.mark.slow, pytest.mark.real_client]
OVSX = ROOT / "node_modules" / ".bin" / "ovsx"


def _ovsx(served: Served, cwd: Path, *args: str) -> subprocess.CompletedProcess[str]:
    if not OVSX.exists():
        pytest.skip("node_modules/.bin/ovsx is missing: run ./dev setup")
    env = {"PATH": "/usr/bin:/bin:/usr/local/bin", "HOME": str(cwd), "npm_config_update_notifier": "false"}
    return subprocess.run([str(OVSX), *args, "--registryUrl", served.base_url], capture_output=True, text=True,
                          timeout=120, env=env, cwd=cwd)


@pytest.fixture(scope="module")
def published(served: Served, tmp_path_factory: pytest.TempPathFactory) -> dict[str, bytes]:
    """ovsxget.hello 1.0.0 and 1.1.0 (universal), ovsxget.native 2.0.0 for linux-x64 and universal."""
    token = served.cli("publisher", "create", "ovsxget", "--owner", "getter").stdout.strip().splitlines()[-1]
    folder = tmp_path_factory.mktemp("packages")
    packages = {
        "hello-1.0.0": vsix_factory.vsix_bytes(publisher="ovsxget", name="hello", version="1.0.0"),
        "hello-1.1.0": vsix_factory.vsix_bytes(publisher="ovsxget", name="hello", version="1.1.0"),
        "native-2.0.0@linux-x64": vsix_factory.vsix_bytes(publisher="ovsxget", name="native", version="2.0.0",
                                                          target_platform="linux-x64"),
        "native-2.0.0": vsix_factory.vsix_bytes(publisher="ovsxget", name="native", version="2.0.0"),
    }
    for label, data in packages.items():
        path = folder / f"{label}.vsix"
        path.write_bytes(data)
        served.cli("publish", str(path), "--token", token, "--quiet")
    return packages


def _digest(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def test_ovsx_get_downloads_the_latest_a_range_and_a_platform(served: Served, published: dict[str, bytes],
                                                              tmp_path: Path):
    latest = _ovsx(served, tmp_path, "get", "ovsxget.hello")
    assert latest.returncode == 0, latest.stdout + latest.stderr
    assert _digest((tmp_path / "ovsxget.hello-1.1.0.vsix").read_bytes()) == _digest(published["hello-1.1.0"])

    ranged = _ovsx(served, tmp_path, "get", "ovsxget.hello", "-v", "<1.1.0", "-o", "old/")
    assert ranged.returncode == 0, ranged.stdout + ranged.stderr
    assert _digest((tmp_path / "old" / "ovsxget.hello-1.0.0.vsix").read_bytes()) == _digest(published["hello-1.0.0"])

    linux = _ovsx(served, tmp_path, "get", "ovsxget.native", "-t", "linux-x64")
    assert linux.returncode == 0, linux.stdout + linux.stderr
    assert "ovsxget.native-2.0.0@linux-x64" in linux.stdout
    downloaded = tmp_path / "ovsxget.native-2.0.0@linux-x64.vsix"
    assert _digest(downloaded.read_bytes()) == _digest(published["native-2.0.0@linux-x64"])
    universal = _ovsx(served, tmp_path, "get", "ovsxget.native", "-t", "universal", "-o", "u.vsix")
    assert universal.returncode == 0, universal.stdout + universal.stderr
    assert _digest((tmp_path / "u.vsix").read_bytes()) == _digest(published["native-2.0.0"])

    missing = _ovsx(served, tmp_path, "get", "ovsxget.nothing")
    assert missing.returncode != 0 and "Extension not found: ovsxget.nothing" in missing.stdout + missing.stderr
    no_match = _ovsx(served, tmp_path, "get", "ovsxget.hello", "-v", ">=3")
    assert no_match.returncode != 0 and "has no published version matching" in no_match.stdout + no_match.stderr

    def counted() -> bool:  # the downloads went through the API, onto the stream, into the statistics
        status, _, body = http("GET", f"{served.base_url}/api/ovsxget/hello")
        return status == 200 and json.loads(body)["downloadCount"] >= 2

    wait_until(counted, timeout=60)


def test_ovsx_get_metadata_and_the_operator_s_verification(served: Served, published: dict[str, bytes],
                                                          tmp_path: Path):
    shown = _ovsx(served, tmp_path, "get", "ovsxget.hello", "--metadata")
    assert shown.returncode == 0, shown.stdout + shown.stderr
    metadata = json.loads(shown.stdout)
    assert (metadata["namespace"], metadata["name"], metadata["version"]) == ("ovsxget", "hello", "1.1.0")
    assert metadata["verified"] is False and metadata["versionAlias"] == ["latest"]
    assert metadata["files"]["download"] == f"{served.base_url}/api/ovsxget/hello/1.1.0/file/ovsxget.hello-1.1.0.vsix"
    assert metadata["files"]["sha256"].endswith("/file/ovsxget.hello-1.1.0.sha256")
    status, _, digest = http("GET", metadata["files"]["sha256"])
    assert status == 200 and digest.decode() == _digest(published["hello-1.1.0"])
    status, _, readme = http("GET", metadata["files"]["readme"])  # straight from the CDN
    assert status == 200 and readme.decode() == vsix_factory.README

    pinned = json.loads(_ovsx(served, tmp_path, "get", "ovsxget.hello", "-v", "1.0.0", "--metadata").stdout)
    assert pinned["version"] == "1.0.0" and pinned["versionAlias"] == []

    served.cli("publisher", "verify", "ovsxget")
    verified = json.loads(_ovsx(served, tmp_path, "get", "ovsxget.native", "--metadata").stdout)
    assert verified["verified"] is True and verified["unrelatedPublisher"] is False
    status, _, namespace = http("GET", f"{served.base_url}/api/ovsxget")
    assert status == 200 and json.loads(namespace) == {
        "name": "ovsxget", "verified": True, "access": "restricted",
        "extensions": {"hello": f"{served.base_url}/api/ovsxget/hello",
                       "native": f"{served.base_url}/api/ovsxget/native"}}
    served.cli("publisher", "verify", "ovsxget", "--revoke")
    revoked = json.loads(_ovsx(served, tmp_path, "get", "ovsxget.hello", "--metadata").stdout)
    assert revoked["verified"] is False
