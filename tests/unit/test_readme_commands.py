"""Every ``marketplace ...`` (and ``./dev serve ...``) command line shown in a fenced code block of the README or
of ``docs/`` is a real command: run with ``--help`` appended, it exits 0 (argparse answers ``--help`` before
acting, so commands that need a running marketplace or AWS credentials are checked too), and every long option
it uses is one the command's help lists. A renamed command or option breaks the build instead of the documentation.
"""

from __future__ import annotations

import os
import re
import shlex
import subprocess
import sys
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
README = ROOT / "README.md"
TIMEOUT_SECONDS = 30
_FENCE = re.compile(r"^\s*(```|~~~)")
_SUBSTITUTION = re.compile(r"\$\(([^()]*)\)")
_ASSIGNMENT = re.compile(r"[A-Za-z_][A-Za-z0-9_]*=")
_SEPARATORS = frozenset({";", "&&", "||", "|", "&"})
_PROGRAM = re.compile(r"(?:.*/)?marketplace")
_OPTION = re.compile(r"--[A-Za-z0-9][A-Za-z0-9-]*")
_PLACEHOLDER = re.compile(r"<[^<>\s]+>")  # ``<token-id>``: a word to fill in, not a redirection


@dataclass(frozen=True)
class Command:
    source: str  # file:line
    args: tuple[str, ...]  # what follows the program name

    @property
    def text(self) -> str:
        return shlex.join(["marketplace", *self.args])


def documents() -> list[Path]:
    return [README, *sorted((ROOT / "docs").rglob("*.md"))]


def code_lines(text: str) -> list[tuple[int, str]]:
    """The lines inside fenced code blocks, with their line numbers; ``\\``-continued lines joined."""
    lines: list[tuple[int, str]] = []
    inside = False
    pending: tuple[int, str] | None = None
    for number, line in enumerate(text.splitlines(), start=1):
        if _FENCE.match(line):
            inside = not inside
            pending = None
            continue
        if not inside:
            continue
        start, so_far = pending if pending is not None else (number, "")
        joined = so_far + line.strip()
        if joined.endswith("\\"):
            pending = (start, joined[:-1].rstrip() + " ")
            continue
        pending = None
        lines.append((start, joined))
    return lines


def _words(line: str) -> list[str]:
    lexer = shlex.shlex(line, posix=True, punctuation_chars=";&|")
    lexer.whitespace_split = True
    lexer.commenters = "#"
    try:
        return list(lexer)
    except ValueError:  # not shell (an unbalanced quote in prose or JSON): no command here
        return []


def commands_in(line: str) -> list[tuple[str, ...]]:
    """The arguments of every ``marketplace`` command on a shell line: at its start, after ``;``, ``&&``,
    ``||`` or a pipe, behind ``VAR=value`` assignments, and inside ``$(...)``. ``./dev serve ARGS`` runs
    ``marketplace serve ARGS``, so it counts as that."""
    found: list[tuple[str, ...]] = []
    for inner in _SUBSTITUTION.findall(line):
        found += commands_in(inner)
    line = _SUBSTITUTION.sub("SUBSTITUTED", line)
    command: list[str] = []
    for word in [*_words(line), ";"]:
        if word not in _SEPARATORS:
            command.append(word)
            continue
        while command and _ASSIGNMENT.match(command[0]):
            command.pop(0)
        if command[:2] == ["./dev", "serve"]:
            command = ["marketplace", *command[1:]]
        if command and _PROGRAM.fullmatch(command[0]):
            args = []
            for arg in command[1:]:
                if re.match(r"\d*[<>]", arg) and not _PLACEHOLDER.fullmatch(arg):  # a redirection ends them
                    break
                args.append(arg)
            found.append(tuple(args))
        command = []
    return found


def documented_commands() -> list[Command]:
    commands = []
    for path in documents():
        for number, line in code_lines(path.read_text(encoding="utf-8")):
            source = f"{path.relative_to(ROOT)}:{number}"
            commands += [Command(source, args) for args in commands_in(line)]
    return commands


def marketplace_program() -> str:
    venv = ROOT / ".venv" / "bin" / "marketplace"
    return str(venv if venv.exists() else Path(sys.executable).with_name("marketplace"))


def check(command: Command, program: str) -> str | None:
    """``None`` when the command answers ``--help`` and its help lists every long option it uses."""
    env = {**os.environ, "NO_COLOR": "1", "COLUMNS": "200"}
    try:
        done = subprocess.run([program, *command.args, "--help"], capture_output=True, text=True, cwd=ROOT,
                              env=env, timeout=TIMEOUT_SECONDS, check=False)
    except subprocess.TimeoutExpired:
        return f"{command.source}: `{command.text} --help` took over {TIMEOUT_SECONDS} s"
    if done.returncode != 0:
        return f"{command.source}: `{command.text} --help` exited {done.returncode}: {done.stderr.strip()[-500:]}"
    listed = set(_OPTION.findall(done.stdout))
    unknown = [option for option in (a.split("=", 1)[0] for a in command.args if a.startswith("--"))
               if option not in listed]
    if unknown:
        return f"{command.source}: `{command.text}` uses {', '.join(unknown)}, which its --help does not list"
    return None


# ---------------------------------------------------------------------------------------------- the extractor


def test_code_lines_are_only_fenced_lines_with_continuations_joined() -> None:
    text = "marketplace prose\n```bash\nmarketplace a \\\n  --b c\n```\n  ```\n  marketplace d\n  ```\n"
    assert code_lines(text) == [(3, "marketplace a --b c"), (7, "marketplace d")]


@pytest.mark.parametrize(("line", "expected"), [
    (".venv/bin/marketplace token list --user bob@example.com   # never shows token values",
     [("token", "list", "--user", "bob@example.com")]),
    ("MARKETPLACE_TOKEN=x marketplace publish a.vsix --quiet", [("publish", "a.vsix", "--quiet")]),
    ('curl -H "Authorization: Bearer $(marketplace dev-token alice)" http://x', [("dev-token", "alice")]),
    ("./dev setup && .venv/bin/marketplace search rebuild > out.txt", [("search", "rebuild")]),
    (".venv/bin/marketplace token revoke <token-id>", [("token", "revoke", "<token-id>")]),
    ("marketplace stats report a.b --json | jq .", [("stats", "report", "a.b", "--json")]),
    ("npx vsce publish -p T --packagePath marketplace.vsix", []),
    ("./dev serve --port 8080 --host 127.0.0.1   # the defaults", [("serve", "--port", "8080", "--host", "127.0.0.1")]),
    ("./dev test tests/unit -q", []),
    ("echo 'unbalanced", []),
])
def test_commands_are_found_wherever_a_shell_line_runs_them(line: str, expected: list[tuple[str, ...]]) -> None:
    assert commands_in(line) == expected


# ---------------------------------------------------------------------------------------------- the documents


def test_the_readme_shows_the_two_commands_and_the_serve_options() -> None:
    lines = [line for _, line in code_lines(README.read_text(encoding="utf-8"))]
    assert any(line.startswith("./dev test ") or line == "./dev test" for line in lines)  # what .ci/run runs
    assert any(line.startswith("./dev serve --port 8080 --host 127.0.0.1") for line in lines)
    assert any(line.startswith("./dev serve --tls") for line in lines)
    assert any(line.startswith("./dev serve --concurrency") for line in lines)


def test_every_documented_marketplace_command_exists() -> None:
    commands = documented_commands()
    readme = [c for c in commands if c.source.startswith("README.md:")]
    assert len(readme) >= 10, "the README's quickstarts show the CLI"
    assert {c.args[0] for c in readme} >= {"publisher", "token", "publish", "extension", "product-json"}
    unique = list({c.args: c for c in commands}.values())
    program = marketplace_program()
    with ThreadPoolExecutor(max_workers=4) as pool:
        failures = [f for f in pool.map(lambda c: check(c, program), unique) if f]
    assert not failures, "\n".join(failures)


def test_a_command_that_does_not_exist_fails_the_check() -> None:
    program = marketplace_program()
    assert check(Command("test", ("extension", "unblock", "a.b")), program)
    assert check(Command("test", ("extension", "block", "a.b", "--unblock")), program)
    assert check(Command("test", ("extension", "block", "a.b", "--off")), program) is None


# ------------------------------------------------------------------------------------ self-contained sources

_OUTSIDE = re.compile("|".join([r"shared/" + "reference", r"\.\./" + "shared", "wire-" + "protocols",
                                "real-" + r"clients\b", "untrusted-" + "uploads"]))
_SOURCES = ("layers", "functions", "stacks", "bench", "tests", "scripts", "docs")
_SUFFIXES = frozenset({".py", ".sh", ".md", ".toml", ".json", ".txt"})


def test_no_file_cites_a_reference_outside_the_repository() -> None:
    """Comments and docs cite ``docs/`` (the protocol facts are in ``docs/protocols/``), never files that
    someone with only this repository cannot open."""
    files = [ROOT / "README.md", ROOT / "app.py", ROOT / "dev", ROOT / "pyproject.toml"]
    for top in _SOURCES:
        files += [p for p in (ROOT / top).rglob("*") if p.suffix in _SUFFIXES and p.is_file()
                  and "__pycache__" not in p.parts and not any(part.endswith(".egg-info") for part in p.parts)]
    cited = [f"{path.relative_to(ROOT)}:{number}: {line.strip()[:100]}"
             for path in files if path.exists()
             for number, line in enumerate(path.read_text(encoding="utf-8", errors="replace").splitlines(), 1)
             if _OUTSIDE.search(line)]
    assert not cited, "\n".join(cited)
