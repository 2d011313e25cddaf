"""The Lambda layer ships exactly the run-time dependencies the package declares."""

import tomllib
from pathlib import Path

from packaging.requirements import Requirement

ROOT = Path(__file__).resolve().parents[2]


def _normalized(lines: list[str]) -> set[str]:
    return {str(Requirement(line)).lower() for line in lines}


def test_layer_requirements_match_the_package():
    project = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]["dependencies"]
    layer = [
        line.strip()
        for line in (ROOT / "layers/common/requirements.txt").read_text().splitlines()
        if line.strip() and not line.startswith("#")
    ]
    assert _normalized(layer) == _normalized(project)
    assert all("==" in line for line in layer), "layer dependencies must be pinned"
