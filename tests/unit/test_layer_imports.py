"""No dead weight in the Lambda layer: every package it ships is imported by the code that runs in Lambda,
and every table the definitions create is named by that code and granted to a function."""

from __future__ import annotations

import ast
import importlib.metadata
import re
from collections.abc import Iterator
from pathlib import Path

from packaging.requirements import Requirement
from packaging.utils import canonicalize_name

from marketplace.platform import resources as r
from marketplace.platform.functions import FUNCTIONS, TableGrant

ROOT = Path(__file__).resolve().parents[2]
PACKAGE = ROOT / "layers" / "common" / "marketplace"
DEFINITIONS = (PACKAGE / "platform" / "resources.py", PACKAGE / "platform" / "functions.py")


def _runtime_sources() -> Iterator[Path]:
    """The layer's package without the local runtime (stacks.layer leaves it out), and the handlers."""
    for path in sorted([*PACKAGE.rglob("*.py"), *(ROOT / "functions").rglob("*.py")]):
        if not path.is_relative_to(PACKAGE / "local"):
            yield path


def _imported() -> set[str]:
    names: set[str] = set()
    for path in _runtime_sources():
        for node in ast.walk(ast.parse(path.read_text(), str(path))):
            if isinstance(node, ast.Import):
                names.update(alias.name.split(".")[0] for alias in node.names)
            elif isinstance(node, ast.ImportFrom) and node.module and not node.level:
                names.add(node.module.split(".")[0])
    return names


def _layer_requirements() -> list[Requirement]:
    lines = (ROOT / "layers/common/requirements.txt").read_text().splitlines()
    return [Requirement(line) for line in (raw.strip() for raw in lines) if line and not line.startswith("#")]


def test_every_package_in_the_layer_is_imported_by_lambda_code():
    modules_of: dict[str, set[str]] = {}
    for module, distributions in importlib.metadata.packages_distributions().items():
        for distribution in distributions:
            modules_of.setdefault(canonicalize_name(distribution), set()).add(module)
    imported = _imported()
    for requirement in _layer_requirements():
        modules = modules_of.get(canonicalize_name(requirement.name), set())
        assert modules & imported, f"{requirement} ships in the layer but no Lambda module imports {modules}"


def test_the_layer_ships_no_validation_stack_it_does_not_use():
    assert not {"pydantic", "pydantic_core", "packaging"} & _imported()
    for requirement in _layer_requirements():
        assert "parser" not in requirement.extras, f"{requirement}: nothing imports Powertools' parser"


def test_every_table_is_named_by_lambda_code_and_granted_to_a_function():
    source = "\n".join(p.read_text() for p in _runtime_sources() if p not in DEFINITIONS)
    granted = {g.table for f in FUNCTIONS for g in f.grants if isinstance(g, TableGrant)}
    tables = {name: value for name, value in vars(r).items() if isinstance(value, r.TableDef)}
    assert set(tables.values()) == set(r.TABLES)
    for name, table in tables.items():
        assert re.search(rf"\b{name}\b", source), f"no Lambda module uses {name}"
        assert table.id in granted, f"no function is granted {name}"
