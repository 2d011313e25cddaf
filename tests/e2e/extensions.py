"""Packages made by the real ``vsce`` from the hello-extension fixture, and publishing them through the
product's own flow (``marketplace publish``), for the real-client end-to-end tests."""

from __future__ import annotations

import json
import shutil
import subprocess
from pathlib import Path

import pytest

from tests.e2e.conftest import ROOT, Served

VSCE = ROOT / "node_modules" / ".bin" / "vsce"
FIXTURE = ROOT / "tests" / "fixtures" / "hello-extension"
PUBLISHER, NAME = "somepub", "hello-feas"
EXTENSION_ID = f"{PUBLISHER}.{NAME}"
TOOL_PATH = "/usr/local/bin:/usr/bin:/bin"


def vsce_package(directory: Path, version: str, publisher: str = PUBLISHER) -> Path:
    """``vsce package`` of a copy of the fixture with ``version`` and ``publisher`` (the fixture itself is never
    changed)."""
    if not VSCE.exists():
        pytest.skip("node_modules/.bin/vsce is missing: run ./dev setup")
    prefix = "" if publisher == PUBLISHER else f"{publisher}."
    work = directory / f"{prefix}hello-extension-{version}"
    shutil.copytree(FIXTURE, work)
    manifest = json.loads((work / "package.json").read_text())
    manifest["version"] = version
    manifest["publisher"] = publisher
    (work / "package.json").write_text(json.dumps(manifest, indent=2))
    out = directory / f"{prefix}{NAME}-{version}.vsix"
    result = subprocess.run([str(VSCE), "package", "--out", str(out)], cwd=work, capture_output=True, text=True,
                            timeout=120, env={"PATH": TOOL_PATH, "HOME": str(directory)})
    assert result.returncode == 0, result.stdout + result.stderr
    return out


def publisher_token(served: Served, namespace: str = PUBLISHER) -> str:
    created = served.cli("publisher", "create", namespace, "--owner", f"{namespace}-owner")
    return created.stdout.strip().splitlines()[-1]


def publish(served: Served, package: Path, token: str, version: str) -> None:
    result = served.cli("publish", str(package), "--registry", served.base_url, "--token", token, "--quiet")
    assert result.stdout.strip() == f"Published {EXTENSION_ID} v{version}.", result.stderr
