"""One owner per table: outside ``catalog/`` no product module spells the extensions table's keys or the
catalog item's attribute names, or reaches the table's location; the statistics table's totals key is
spelled by the statistics modules only. (docs/architecture.md lists the owners.)

The check reads string literals and names in the syntax tree, so a word in a comment is not a finding, and a
table whose own keys share a prefix (the statistics, reviews and publishing tables) is named as an
exception for that prefix only.
"""

from __future__ import annotations

import ast
from collections.abc import Iterator
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
PACKAGE = ROOT / "layers" / "common" / "marketplace"
PRODUCT = [PACKAGE, ROOT / "functions"]
CATALOG = PACKAGE / "catalog"

# literal -> the modules (relative to the package) that may spell it for a table of their own
PREFIXES: dict[str, frozenset[str]] = {
    "VERSION#": frozenset(),
    "UUID#": frozenset(),
    "EXT#": frozenset({"stats/item.py", "stats/store.py",  # the statistics table's own key
                       "reviews/store.py"}),  # the reviews table's own key
    "NS#": frozenset({"publishing/store.py"}),  # the publishing table's own namespace items
}
EXACT: dict[str, frozenset[str]] = {
    "EXTENSION": frozenset(),  # the summary item's and the UUID pointer's sort key
    "CONTROL": frozenset(),  # the control entries' partition
    "TOTALS": frozenset({"stats/item.py"}),  # the statistics table's totals item
}
ATTRIBUTES = ("stats_touched_at", "latest_version", "latest_prerelease", "unpublished_at")
# the table's location: its definition, the functions' grants (CDK and the local runtime read both)
LOCATION_NAME = "EXTENSIONS_TABLE"
LOCATION_ALLOWED = frozenset({"platform/resources.py", "platform/functions.py"})


def product_modules() -> Iterator[tuple[str, ast.Module]]:
    for root in PRODUCT:
        for path in sorted(root.rglob("*.py")):
            if "__pycache__" in path.parts or path.is_relative_to(CATALOG):
                continue
            name = path.relative_to(PACKAGE if path.is_relative_to(PACKAGE) else ROOT).as_posix()
            yield name, ast.parse(path.read_text(encoding="utf-8"), filename=str(path))


def literals(tree: ast.Module) -> Iterator[tuple[int, str]]:
    for node in ast.walk(tree):
        if isinstance(node, ast.Constant) and isinstance(node.value, str):
            yield node.lineno, node.value


def names(tree: ast.Module) -> Iterator[tuple[int, str]]:
    for node in ast.walk(tree):
        if isinstance(node, ast.Name):
            yield node.lineno, node.id
        elif isinstance(node, ast.Attribute):
            yield node.lineno, node.attr
        elif isinstance(node, ast.ImportFrom):
            yield from ((node.lineno, alias.name) for alias in node.names)


def test_the_product_tree_is_scanned() -> None:
    found = dict(product_modules())
    assert "stats/writer.py" in found and "reviews/store.py" in found and "search/indexer.py" in found
    assert "search_indexer/handler.py" not in found and "functions/search_indexer/handler.py" in found
    assert not any(name.startswith("catalog/") for name in found)


def test_only_the_catalog_spells_the_extensions_table_keys() -> None:
    findings = []
    for module, tree in product_modules():
        for line, text in literals(tree):
            findings += [f"{module}:{line}: {prefix!r}" for prefix, allowed in PREFIXES.items()
                         if prefix in text and module not in allowed]
            if text in EXACT and module not in EXACT[text]:
                findings.append(f"{module}:{line}: {text!r}")
    assert findings == []


def test_only_the_catalog_names_the_catalog_items_attributes() -> None:
    findings = [f"{module}:{line}: {attribute!r}" for module, tree in product_modules()
                for line, text in literals(tree) for attribute in ATTRIBUTES if attribute in text]
    assert findings == []


def test_only_the_catalog_reaches_the_extensions_table() -> None:
    findings = [f"{module}:{line}" for module, tree in product_modules() if module not in LOCATION_ALLOWED
                for line, name in names(tree) if name == LOCATION_NAME]
    assert findings == []


def test_the_check_sees_a_spelling() -> None:
    """The scan itself: a stray key in an f-string, an attribute in an expression, the table's name."""
    tree = ast.parse('from x import EXTENSIONS_TABLE\nkey = {"sk": "EXTENSION", "pk": f"VERSION#{v}"}\n'
                     'expr = "SET stats_touched_at = :now"\n')
    assert {text for _, text in literals(tree)} >= {"EXTENSION", "VERSION#", "SET stats_touched_at = :now"}
    assert (1, LOCATION_NAME) in set(names(tree))
