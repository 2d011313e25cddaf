"""The ``marketplace`` command is one module per command group (``marketplace.cli.*``): every command is
registered, in --help's order, each leaf with something to run, and ``python -m marketplace.cli`` works."""

from __future__ import annotations

import argparse
import subprocess
import sys

import pytest

from marketplace import cli

COMMANDS = ["serve", "backup", "restore", "data", "product-json", "publisher", "publish", "import", "mirror",
            "bundle", "extension", "stats", "review", "scan", "search", "dev-token", "user", "token"]


def _subcommands(parser: argparse.ArgumentParser) -> dict[str, argparse.ArgumentParser]:
    for action in parser._actions:
        if isinstance(action, argparse._SubParsersAction):
            return dict(action.choices)
    return {}


def _leaves(parser: argparse.ArgumentParser, path: tuple[str, ...] = ()) -> list[tuple[str, ...]]:
    children = _subcommands(parser)
    if not children:
        return [path]
    return [leaf for name, child in children.items() for leaf in _leaves(child, (*path, name))]


def test_every_group_registers_its_command_in_help_order():
    assert list(_subcommands(cli.parser())) == COMMANDS
    for group in cli.GROUPS:  # each group module registers at least one command of its own
        root = argparse.ArgumentParser()
        group.register(root.add_subparsers())
        assert _subcommands(root), group.__name__


@pytest.mark.parametrize("path", _leaves(cli.parser()), ids=" ".join)
def test_every_command_has_something_to_run(path: tuple[str, ...]):
    positional = {"product-json": ["https://d.example"], "dev-token": ["alice"], "publish": ["x.vsix"],
                  "import": ["x.vsix"], "mirror": ["--upstream", "https://u.example"], "backup": ["dest"],
                  "restore": ["src", "--data-dir", "d"]}
    args = [*path, *positional.get(path[0], [])]
    parser = cli.parser()
    try:
        namespace = parser.parse_args(args)
    except SystemExit:  # required arguments of its own: --help must still work
        with pytest.raises(SystemExit) as shown:
            parser.parse_args([*path, "--help"])
        assert shown.value.code == 0
        return
    assert callable(namespace.run)


def test_python_dash_m_runs_the_same_command():
    result = subprocess.run([sys.executable, "-m", "marketplace.cli", "--help"], capture_output=True, text=True,
                            timeout=60)
    assert result.returncode == 0, result.stderr
    assert result.stdout.startswith("usage: marketplace ")
