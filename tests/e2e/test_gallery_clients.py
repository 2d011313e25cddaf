"""The official ``vsce`` reading the gallery (``VSCE_MARKETPLACE_URL``): ``show`` and ``search`` find an
extension published through ``marketplace publish``, and report what was published."""

from __future__ import annotations

import json
import subprocess
from pathlib import Path

import pytest

from tests.e2e.conftest import Served
from tests.e2e.extensions import EXTENSION_ID, NAME, PUBLISHER, TOOL_PATH, VSCE, publish, publisher_token, vsce_package

pytestmark = [pytest.mark.slow, pytest.mark.real_client]


@pytest.fixture(scope="module")
def published(served: Served, tmp_path_factory: pytest.TempPathFactory) -> Served:
    work = tmp_path_factory.mktemp("packages")
    token = publisher_token(served)
    publish(served, vsce_package(work, "0.0.1"), token, "0.0.1")
    publish(served, vsce_package(work, "0.0.2"), token, "0.0.2")
    return served


def _vsce(served: Served, home: Path, *args: str) -> subprocess.CompletedProcess[str]:
    env = {"PATH": TOOL_PATH, "HOME": str(home), "VSCE_MARKETPLACE_URL": served.base_url}
    return subprocess.run([str(VSCE), *args], capture_output=True, text=True, timeout=120, env=env, cwd=home)


def test_vsce_show_prints_the_published_extension(published: Served, tmp_path: Path):
    shown = _vsce(published, tmp_path, "show", EXTENSION_ID)
    assert shown.returncode == 0, shown.stdout + shown.stderr
    assert "Hello Feas" in shown.stdout and EXTENSION_ID in shown.stdout
    assert "0.0.2" in shown.stdout and "0.0.1" in shown.stdout  # the latest, then the version history
    assert "hello, example" in shown.stdout  # the tags (keywords)

    as_json = _vsce(published, tmp_path, "show", EXTENSION_ID, "--json")
    assert as_json.returncode == 0, as_json.stdout + as_json.stderr
    extension = json.loads(as_json.stdout)
    assert extension["publisher"]["publisherName"] == PUBLISHER and extension["extensionName"] == NAME
    assert extension["displayName"] == "Hello Feas"
    assert [v["version"] for v in extension["versions"]] == ["0.0.2", "0.0.1"]

    missing = _vsce(published, tmp_path, "show", f"{PUBLISHER}.no-such-extension")  # vsce exits 0 even then
    assert f'Extension "{PUBLISHER}.no-such-extension" not found.' in missing.stderr and missing.stdout == ""


def test_vsce_search_finds_the_published_extension(published: Served, tmp_path: Path):
    found = _vsce(published, tmp_path, "search", "hello")
    assert found.returncode == 0, found.stdout + found.stderr
    assert EXTENSION_ID in found.stdout and "Hello Feas" in found.stdout

    nothing = _vsce(published, tmp_path, "search", "zzzunmatchedword")
    assert nothing.returncode == 0 and EXTENSION_ID not in nothing.stdout
