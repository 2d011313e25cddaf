"""``marketplace mirror``'s usage errors (exit status 2, before anything is fetched) and its ``--to-bundle`` wiring
(marketplace.cli.mirror)."""

from __future__ import annotations

import importlib
from pathlib import Path
from typing import Any

import pytest

from marketplace import cli
from marketplace.cli import mirror as mirror_cli


def run(*args: str) -> int:
    return cli.main(["mirror", "--upstream", "https://up.example", *args])


@pytest.mark.parametrize(("args", "message"), [
    (("--jobs", "0"), "--jobs must be from 1 to 16"),
    (("--jobs", "17"), "--jobs must be from 1 to 16"),
    (("--rate", "-1"), "--rate must be 0 (no limit) or more"),
    (("--wait", "0"), "--wait must be a positive number of seconds"),
    (("--to-bundle", "x.mkpbundle"), "--to-bundle FILE and --sign-key KEY go together"),
    (("--sign-key", "k.pem"), "--to-bundle FILE and --sign-key KEY go together"),
    (("--print-policy",), "--print-policy needs --allow FILE"),
])
def test_usage_errors(args, message, capsys):
    assert run(*args) == 2
    assert capsys.readouterr().err == f"marketplace mirror: {message}\n"


def test_a_bad_list_stops_the_run_naming_file_and_line(tmp_path: Path, capsys):
    allow = tmp_path / "allow.txt"
    allow.write_text("acme.app\nacme.lib latest=zero\n")
    assert run("--allow", str(allow)) == 2
    assert capsys.readouterr().err == (f"marketplace mirror: {allow}:2: latest='zero' must be a whole number from 1, "
                                       "or 'all'\n")
    deny = tmp_path / "deny.txt"
    assert run("--deny", str(deny)) == 2
    assert f"{deny}: cannot read: No such file or directory" in capsys.readouterr().err


def test_a_bad_upstream_url_is_a_usage_error(capsys):
    assert cli.main(["mirror", "--upstream", "ftp://up.example"]) == 2
    assert "is not an http(s) URL of a registry" in capsys.readouterr().err


def test_to_bundle_without_the_bundle_module_says_so(tmp_path: Path, monkeypatch, capsys):
    real = importlib.import_module

    def missing(name: str, *args: Any) -> Any:
        if name == mirror_cli.BUNDLE_MODULE:
            raise ModuleNotFoundError(f"No module named {name!r}", name=name)
        return real(name, *args)

    monkeypatch.setattr(importlib, "import_module", missing)
    assert run("--to-bundle", str(tmp_path / "b.mkpbundle"), "--sign-key", str(tmp_path / "k")) == 2
    assert "--to-bundle is not supported by this installation" in capsys.readouterr().err


def test_to_bundle_hands_the_bundle_sink_what_it_needs(tmp_path: Path, monkeypatch, capsys):
    made: dict[str, Any] = {}

    class FakeBundleSink:
        def __init__(self, path: Path, *, signing_key: Path, allow_text: str | None, upstream: str) -> None:
            made.update(path=path, signing_key=signing_key, allow_text=allow_text, upstream=upstream)

        def accept(self, data: bytes, version: Any) -> Any:
            raise AssertionError("nothing to accept")

        def close(self) -> None:
            made["closed"] = True

        def discard(self) -> None:
            made["discarded"] = True

    class FakeModule:
        BundleSink = FakeBundleSink

    real = importlib.import_module
    monkeypatch.setattr(importlib, "import_module",
                        lambda name, *a: FakeModule if name == mirror_cli.BUNDLE_MODULE else real(name, *a))
    from marketplace.mirror import engine

    monkeypatch.setattr(engine, "plan", lambda client, allow, deny, jobs: engine.Plan(
        client.base_url, [], [], {}, [], [], 0, client))
    allow = tmp_path / "allow.txt"
    allow.write_text("acme.app\n")
    assert run("--allow", str(allow), "--to-bundle", str(tmp_path / "b.mkpbundle"), "--sign-key",
               str(tmp_path / "k.pem")) == 0
    assert made == {"path": tmp_path / "b.mkpbundle", "signing_key": tmp_path / "k.pem", "allow_text": "acme.app\n",
                    "upstream": "https://up.example", "closed": True}
    assert run("--allow", str(allow), "--to-bundle", str(tmp_path / "b.mkpbundle"), "--sign-key",
               str(tmp_path / "k.pem"), "--dry-run") == 0
    assert made["discarded"] is True  # a dry run writes no bundle
    assert "Plan: 0 versions of 0 extensions from https://up.example" in capsys.readouterr().out
