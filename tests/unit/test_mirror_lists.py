"""Allow-lists, deny-lists and the editor policy an allow-list implies (marketplace.mirror.lists)."""

from __future__ import annotations

from pathlib import Path

import pytest

from marketplace.mirror.lists import (
    AllowEntry,
    ListError,
    parse_allow,
    parse_deny,
    policy_snippet,
    read_allow,
    read_deny,
)

EXAMPLE = """\
# what we mirror
acme.hello   version=^1.2.0 platforms=linux-x64,universal latest=2   # pinned to 1.x
acme.range   version=">=1.0.0 <2.0.0" prerelease=yes
Tools                                    # the whole namespace, newest stable of each

exact.one version=1.4.2 platforms=win32-x64,universal
every.old latest=all
"""


def test_the_format_with_every_option():
    allow = parse_allow(EXAMPLE, "allow.txt")
    assert [e.key for e in allow.entries] == ["acme.hello", "acme.range", "tools", "exact.one", "every.old"]
    hello = allow.entries[0]
    assert hello == AllowEntry("acme", "hello", "^1.2.0", frozenset({"linux-x64", "universal"}), False, 2, 2)
    ranged = allow.entries[1]
    assert (ranged.version, ranged.prerelease, ranged.latest, ranged.platforms) == (">=1.0.0 <2.0.0", True, 1, None)
    tools = allow.entries[2]
    assert (tools.namespace, tools.name, tools.version, tools.latest, tools.line) == ("tools", None, None, 1, 4)
    assert allow.entries[4].latest is None
    assert allow.text == EXAMPLE and allow.source == "allow.txt"


def test_rules_are_found_by_id_then_namespace_case_insensitively():
    allow = parse_allow("acme\nacme.special latest=3\n")
    special, other = allow.rule_for("ACME.Special"), allow.rule_for("acme.other")
    assert special is not None and special.latest == 3
    assert other is not None and other.key == "acme"
    assert allow.rule_for("other.thing") is None
    assert [e.key for e in allow.namespaces] == ["acme"] and [e.key for e in allow.extensions] == ["acme.special"]


@pytest.mark.parametrize(("range_", "version", "prerelease", "admitted"), [
    ("^1.2.0", "1.2.0", False, True),
    ("^1.2.0", "1.9.9", False, True),
    ("^1.2.0", "2.0.0", False, False),
    ("^1.2.0", "1.1.9", False, False),
    (">=1.0.0 <2.0.0", "1.5.0", False, True),
    (">=1.0.0 <2.0.0", "2.0.0", False, False),
    ("1.4.2", "1.4.2", False, True),
    ("1.4.2", "1.4.3", False, False),
    ("~1.4", "1.4.9", False, True),
    ("~1.4", "1.5.0", False, False),
    ("^1.0.0 || ^3.0.0", "3.1.0", False, True),
    ("1.0.0 - 1.5.0", "1.5.0", False, True),
    ("^1.2.0", "1.3.0-beta.1", False, False),  # a pre-release number needs prerelease=yes
    ("^1.2.0", "1.3.0-beta.1", True, True),
    (None, "0.0.1", False, True),
    (None, "1.0.0-rc.1", False, False),
])
def test_npm_ranges(range_, version, prerelease, admitted):
    entry = AllowEntry("a", "b", range_, prerelease=prerelease)
    assert entry.admits_number(version) is admitted


def test_the_upstream_pre_release_flag_needs_prerelease_yes():
    assert not AllowEntry("a", "b").admits("1.3.0", pre_release=True)
    assert AllowEntry("a", "b", prerelease=True).admits("1.3.0", pre_release=True)
    assert AllowEntry("a", "b").admits("1.2.0", pre_release=False)
    assert not AllowEntry("a", "b").admits("not.a.version", pre_release=False)


def test_platforms():
    entry = AllowEntry("a", "b", platforms=frozenset({"linux-x64"}))
    assert entry.admits_platform("linux-x64") and not entry.admits_platform("universal")
    assert AllowEntry("a", "b").admits_platform("web")


@pytest.mark.parametrize(("line", "problem"), [
    ("acme.hello an extra word", "'an' is not an option"),
    ("a..b", "'a..b' is neither an extension id (publisher.name) nor a publisher"),
    ("a.b.c", "'a.b.c' is neither an extension id"),
    ("-bad.name", "'-bad.name' is neither an extension id"),
    ("a.b latest", "'latest' is not an option (version=, platforms=, prerelease=, latest=)"),
    ("a.b colour=blue", "unknown option 'colour' (one of: version, platforms, prerelease, latest)"),
    ("a.b latest=1 latest=2", "option 'latest' is given twice"),
    ("a.b version=", "version= needs a range, e.g. version=^1.2.0"),
    ("a.b version=garbage", "version='garbage' is not an npm-style version range"),
    ("a.b version=" + "1" * 201, "the version range is longer than 200 characters"),
    ("a.b platforms=", "platforms= needs a comma-separated list"),
    ("a.b platforms=linux-x64,,universal", "platforms= needs a comma-separated list"),
    ("a.b platforms=amiga-68k", "unknown target platform 'amiga-68k' (one of: "),
    ("a.b prerelease=maybe", "prerelease='maybe' must be 'yes' or 'no'"),
    ("a.b latest=0", "latest='0' must be a whole number from 1, or 'all'"),
    ("a.b latest=-1", "latest='-1' must be a whole number from 1, or 'all'"),
    ("a.b latest=some", "latest='some' must be a whole number from 1, or 'all'"),
    ('a.b version="^1.0.0', "cannot split the line into words (No closing quotation)"),
    ("a.b\x07", "the line holds a control character"),
    ("a.b " + "x" * 2000, "the line is longer than 2000 characters"),
])
def test_every_error_names_the_file_line_and_problem(line, problem):
    with pytest.raises(ListError) as raised:
        parse_allow(f"# header\n\n{line}\n", "lists/allow.txt")
    assert raised.value.message.startswith(f"lists/allow.txt:3: {problem}"), raised.value.message
    assert raised.value.status == 400


def test_an_entry_listed_twice_is_an_error_naming_both_lines():
    with pytest.raises(ListError, match=r"^allow-list:3: acme.hello is already listed on line 1$"):
        parse_allow("acme.hello\nacme\nACME.Hello latest=2\n")


def test_the_deny_list():
    deny = parse_deny("# never\nbad.thing\nEvilCorp   # everything of theirs\n\n", "deny.txt")
    assert deny.denies("bad.thing") and deny.denies("BAD.THING")
    assert deny.denies("evilcorp.anything") and deny.denies("evilcorp")
    assert not deny.denies("bad.other") and not deny.denies("good.thing")
    assert bool(deny) and not bool(parse_deny("# nothing\n"))
    with pytest.raises(ListError, match=r"^deny.txt:1: a deny-list line names one extension or publisher, not "
                                        r"'version=1' too"):
        parse_deny("bad.thing version=1\n", "deny.txt")
    with pytest.raises(ListError, match=r"^deny.txt:2: 'no way' is neither"):
        parse_deny("ok\n'no way'\n", "deny.txt")


def test_files_are_read_and_their_errors_named(tmp_path: Path):
    allow = tmp_path / "allow.txt"
    allow.write_bytes("\ufeffacme.hello\n".encode())  # a BOM is tolerated
    assert [e.key for e in read_allow(allow).entries] == ["acme.hello"]
    deny = tmp_path / "deny.txt"
    deny.write_text("bad\n")
    assert read_deny(deny).namespaces == {"bad"}
    with pytest.raises(ListError, match=r"missing.txt: cannot read: No such file or directory"):
        read_allow(tmp_path / "missing.txt")
    binary = tmp_path / "binary.txt"
    binary.write_bytes(b"acme.hello\n\xff\xfe\n")
    with pytest.raises(ListError, match=r"binary.txt:2: not UTF-8 text"):
        read_allow(binary)


def test_the_policy_snippet_maps_each_entry():
    allow = parse_allow(EXAMPLE)
    deny = parse_deny("acme.bad\nevil\n")
    snippet = policy_snippet(allow, deny, added=["dep.one", "acme.hello"])
    assert snippet == {"extensions.allowed": {
        "acme.hello": "stable",  # a range VS Code cannot express: stable versions of the extension
        "acme.range": True,  # prerelease=yes
        "tools": "stable",
        "exact.one": ["1.4.2", "1.4.2@win32-x64"],  # universal is the plain version
        "every.old": "stable",
        "dep.one": "stable",  # brought in by the closure
        "acme.bad": False,
        "evil": False,
    }}
    assert policy_snippet(parse_allow("a.b version==2.0.0\n"))["extensions.allowed"] == {"a.b": ["2.0.0"]}
    assert policy_snippet(parse_allow("a version=2.0.0\n"))["extensions.allowed"] == {"a": "stable"}


def test_describe_round_trips():
    allow = parse_allow(EXAMPLE)
    again = parse_allow("\n".join(e.describe() for e in allow.entries))
    assert [(e.key, e.version, e.platforms, e.prerelease, e.latest) for e in again.entries] == [
        (e.key, e.version, e.platforms, e.prerelease, e.latest) for e in allow.entries]
