"""The vendored uPlot files in the website's static directory are exactly the pinned npm release's files."""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
STATIC = ROOT / "layers" / "common" / "marketplace" / "web" / "static"
PACKAGE = ROOT / "node_modules" / "uplot"

# static file -> the file it is a copy of, relative to node_modules/uplot
VENDORED = {
    "uplot.iife.min.js": "dist/uPlot.iife.min.js",
    "uplot.min.css": "dist/uPlot.min.css",
    "uplot.LICENSE.txt": "LICENSE",
}


def pinned_version() -> str:
    """The exact version package.json asks for (a range would let the vendored copy drift from the lock)."""
    version: str = json.loads((ROOT / "package.json").read_text())["devDependencies"]["uplot"]
    assert re.fullmatch(r"\d+\.\d+\.\d+", version), f"uplot must be pinned to an exact version, not {version!r}"
    return version


def installed() -> Path:
    if not (PACKAGE / "package.json").is_file():
        pytest.skip("node_modules/uplot is not installed (run npm ci to compare the vendored files)")
    return PACKAGE


def test_package_json_and_lock_agree() -> None:
    version = pinned_version()
    lock = json.loads((ROOT / "package-lock.json").read_text())
    assert lock["packages"][""]["devDependencies"]["uplot"] == version
    assert lock["packages"]["node_modules/uplot"]["version"] == version


def test_vendored_script_banner_names_the_pinned_version() -> None:
    banner = (STATIC / "uplot.iife.min.js").read_text().splitlines()[0]
    assert f"(v{pinned_version()})" in banner


@pytest.mark.parametrize(("name", "source"), sorted(VENDORED.items()))
def test_vendored_file_is_the_installed_file(name: str, source: str) -> None:
    package = installed()
    assert (STATIC / name).read_bytes() == (package / source).read_bytes(), (
        f"static/{name} differs from node_modules/uplot/{source}: copy it again")


def test_installed_package_is_the_pinned_version() -> None:
    package = installed()
    assert json.loads((package / "package.json").read_text())["version"] == pinned_version()


def test_license_is_mit() -> None:
    assert (STATIC / "uplot.LICENSE.txt").read_text().startswith("The MIT License")
