"""The official publishing CLIs, unmodified, against the local marketplace (pinned in package.json)."""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

import pytest

from tests.e2e.conftest import ROOT, Served

pytestmark = [pytest.mark.slow, pytest.mark.real_client]
BIN = ROOT / "node_modules" / ".bin"
FIXTURE = ROOT / "tests" / "fixtures" / "hello-extension"


def _tool(name: str) -> Path:
    tool = BIN / name
    if not tool.exists():
        pytest.skip(f"node_modules/.bin/{name} is missing: run ./dev setup")
    return tool


def _run(served: Served, home: Path, *args: str) -> subprocess.CompletedProcess[str]:
    env = {"PATH": "/usr/bin:/bin:/usr/local/bin", "HOME": str(home), "npm_config_update_notifier": "false"}
    return subprocess.run([*args], capture_output=True, text=True, timeout=120, env=env, cwd=home)


@pytest.fixture
def packaged(tmp_path: Path) -> Path:
    work = tmp_path / "hello-extension"
    shutil.copytree(FIXTURE, work)
    out = tmp_path / "hello-feas-0.0.1.vsix"
    result = subprocess.run([str(_tool("vsce")), "package", "--out", str(out)], cwd=work, capture_output=True,
                            text=True, timeout=120, env={"PATH": "/usr/bin:/bin:/usr/local/bin", "HOME": str(tmp_path)})
    assert result.returncode == 0, result.stdout + result.stderr
    return out


def test_ovsx_publishes_and_skips_duplicates(served: Served, packaged: Path, tmp_path: Path):
    ovsx = str(_tool("ovsx"))
    token = served.cli("publisher", "create", "somepub", "--owner", "ovsx-user").stdout.strip().splitlines()[-1]
    registry = ["--registryUrl", served.base_url, "-p", token]

    first = _run(served, tmp_path, ovsx, "publish", str(packaged), *registry)
    assert first.returncode == 0, first.stdout + first.stderr
    assert "Published somepub.hello-feas v0.0.1" in first.stdout + first.stderr

    again = _run(served, tmp_path, ovsx, "publish", str(packaged), *registry)
    assert again.returncode != 0
    assert "Extension somepub.hello-feas-0.0.1 is already published." in again.stdout + again.stderr

    skipped = _run(served, tmp_path, ovsx, "publish", str(packaged), *registry, "--skip-duplicate")
    assert skipped.returncode == 0, skipped.stdout + skipped.stderr
    assert "Skipping publish" in skipped.stdout + skipped.stderr


def test_ovsx_namespaces_and_token_checks(served: Served, tmp_path: Path):
    ovsx = str(_tool("ovsx"))
    token = served.cli("publisher", "create", "ovsxhome", "--owner", "ovsx-admin").stdout.strip().splitlines()[-1]
    registry = ["--registryUrl", served.base_url, "-p", token]

    created = _run(served, tmp_path, ovsx, "create-namespace", "ovsxnew", *registry)
    assert created.returncode == 0 and "Created namespace ovsxnew" in created.stdout + created.stderr
    widened = _run(served, tmp_path, ovsx, "verify-pat", "ovsxnew", *registry)  # the token keeps its scope
    assert widened.returncode != 0 and "may not publish" in widened.stdout + widened.stderr
    owner = served.cli("token", "create", "--user", "ovsx-admin", "--namespace", "ovsxnew").stdout.strip()
    verified = _run(served, tmp_path, ovsx, "verify-pat", "ovsxnew", "--registryUrl", served.base_url,
                    "-p", owner.splitlines()[-1])
    assert verified.returncode == 0, verified.stdout + verified.stderr

    other = _run(served, tmp_path, ovsx, "verify-pat", "somebody-else", *registry)
    assert other.returncode != 0 and "may not publish" in other.stdout + other.stderr
    reserved = _run(served, tmp_path, ovsx, "create-namespace", "microsoft", *registry)
    assert reserved.returncode != 0 and "reserved" in reserved.stdout + reserved.stderr
    bad = _run(served, tmp_path, ovsx, "verify-pat", "ovsxnew", "--registryUrl", served.base_url, "-p", "mkp_nope")
    assert bad.returncode != 0


def _vsce(served: Served, home: Path, *args: str) -> subprocess.CompletedProcess[str]:
    env = {"PATH": "/usr/bin:/bin:/usr/local/bin", "HOME": str(home), "VSCE_MARKETPLACE_URL": served.base_url}
    return subprocess.run([str(_tool("vsce")), *args], capture_output=True, text=True, timeout=120,
                          env=env, cwd=home)


def test_vsce_publishes_and_skips_duplicates(served: Served, packaged: Path, tmp_path: Path):
    token = served.cli("publisher", "create", "somepub", "--owner", "vsce-user", check=False)
    if token.returncode != 0:  # the ovsx test created it in this runtime: make a token for a new owner
        served.cli("publisher", "member", "somepub", "vsce-user")
        token = served.cli("token", "create", "--user", "vsce-user", "--namespace", "somepub")
    pat = token.stdout.strip().splitlines()[-1]

    verified = _vsce(served, tmp_path, "verify-pat", "somepub", "-p", pat)
    assert verified.returncode == 0 and "verification succeeded" in verified.stdout + verified.stderr
    refused = _vsce(served, tmp_path, "verify-pat", "someoneelse", "-p", pat)
    assert refused.returncode != 0

    packaged_v2 = packaged.parent / "hello-feas-0.0.2.vsix"
    work = packaged.parent / "hello-extension"
    manifest = (work / "package.json").read_text().replace('"version": "0.0.1"', '"version": "0.0.2"')
    (work / "package.json").write_text(manifest)
    built = subprocess.run([str(_tool("vsce")), "package", "--out", str(packaged_v2)], cwd=work, capture_output=True,
                           text=True, timeout=120, env={"PATH": "/usr/bin:/bin:/usr/local/bin", "HOME": str(tmp_path)})
    assert built.returncode == 0, built.stdout + built.stderr

    published = _vsce(served, tmp_path, "publish", "-p", pat, "--packagePath", str(packaged_v2))
    assert published.returncode == 0, published.stdout + published.stderr
    assert "Published somepub.hello-feas v0.0.2." in published.stdout + published.stderr
    again = _vsce(served, tmp_path, "publish", "-p", pat, "--packagePath", str(packaged_v2))
    assert again.returncode != 0 and "already exists" in again.stdout + again.stderr
    skipped = _vsce(served, tmp_path, "publish", "-p", pat, "--packagePath", str(packaged_v2), "--skip-duplicate")
    assert skipped.returncode == 0 and "Skipping publish" in skipped.stdout + skipped.stderr
