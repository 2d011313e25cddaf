"""Parsing the ``extensionquery`` body (docs/protocols/vscode-gallery.md A3): what each filter type, flag, sort and
paging field becomes, and a ``BadRequest`` naming the field for everything malformed."""

from __future__ import annotations

from typing import Any

import pytest

from marketplace.gallery.query import (
    DEFAULT_PAGE_SIZE,
    MAX_FILTERS,
    MAX_PAGE_SIZE,
    MAX_VALUE_LENGTH,
    SEARCH_TEXT_LENGTH,
    TARGET,
    Filter,
    Flags,
    parse,
)
from marketplace.platform.errors import BadRequest

VSCODE_SEARCH = {"filters": [{"criteria": [{"filterType": 8, "value": TARGET}, {"filterType": 10, "value": "python"},
                                           {"filterType": 12, "value": "4096"}],
                              "pageNumber": 1, "pageSize": 50, "sortBy": 0, "sortOrder": 0}],
                 "assetTypes": [], "flags": 950}


def body(*criteria: dict[str, Any], flags: Any = 950, **paging: Any) -> dict[str, Any]:
    return {"filters": [{"criteria": list(criteria), **paging}], "assetTypes": [], "flags": flags}


def one(*criteria: dict[str, Any], **paging: Any) -> Filter:
    query = parse(body(*criteria, **paging))
    assert len(query.filters) == 1
    return query.filters[0]


def c(kind: Any, value: Any = None) -> dict[str, Any]:
    return {"filterType": kind} if value is None else {"filterType": kind, "value": value}


def test_the_query_vscode_sends_for_a_search():
    query = parse(VSCODE_SEARCH)
    assert query.flags == Flags(950)
    assert query.flags & Flags.INCLUDE_LATEST_VERSION_ONLY and not query.flags & Flags.INCLUDE_VERSIONS
    (flt,) = query.filters
    assert (flt.text, flt.targets, flt.exclude_flags) == ("python", (TARGET,), 4096)
    assert (flt.page_number, flt.page_size, flt.offset, flt.sort, flt.descending) == (1, 50, 0, "relevance", True)
    assert not flt.is_lookup and flt.targets_code and not flt.featured


def test_the_flags_vscode_and_vsce_send_decode_to_their_documented_bits():
    assert parse(body(flags=950)).flags == (Flags.INCLUDE_FILES | Flags.INCLUDE_CATEGORY_AND_TAGS
                                            | Flags.INCLUDE_VERSION_PROPERTIES | Flags.EXCLUDE_NON_VALIDATED
                                            | Flags.INCLUDE_ASSET_URI | Flags.INCLUDE_STATISTICS
                                            | Flags.INCLUDE_LATEST_VERSION_ONLY)
    assert parse(body(flags=439)).flags == (Flags(950) & ~Flags.INCLUDE_LATEST_VERSION_ONLY) | Flags.INCLUDE_VERSIONS
    assert parse(body(flags=2325)).flags == (Flags.INCLUDE_VERSIONS | Flags.INCLUDE_CATEGORY_AND_TAGS
                                             | Flags.INCLUDE_VERSION_PROPERTIES | Flags.INCLUDE_STATISTICS
                                             | Flags(0x800))  # vsce show; 0x800 is kept though unnamed
    assert parse(body(flags=544)).flags == Flags.EXCLUDE_NON_VALIDATED | Flags.INCLUDE_LATEST_VERSION_ONLY
    assert parse(body(flags=0)).flags == Flags.NONE
    assert parse(body(flags="950")).flags == Flags(950)  # a numeric string is tolerated
    assert parse({"filters": [{}]}).flags == Flags.NONE  # absent means none


def test_every_filter_type_lands_in_its_own_field_and_values_of_one_type_accumulate():
    flt = one(c(1, "Snippets"), c(1, "theme"), c(4, "00000000-0000-0000-0000-000000000001"), c(5, "Themes"),
              c(5, "Linters"), c(7, "Pub.Ext"), c(7, "other.ext"), c(8, TARGET), c(9), c(10, "hello"),
              c(12, "4096"), c(12, "8"))
    assert flt.tags == ("Snippets", "theme")
    assert flt.extension_ids == ("00000000-0000-0000-0000-000000000001",)
    assert flt.categories == ("Themes", "Linters")
    assert flt.extension_names == ("Pub.Ext", "other.ext")
    assert flt.targets == (TARGET,)
    assert flt.featured is True
    assert flt.text == "hello"
    assert flt.exclude_flags == 4096 | 8
    assert flt.is_lookup


def test_filter_type_and_values_are_normalised():
    flt = one(c("7", "  pub.ext  "), c(10, "  spaced  "))  # a numeric string type; values are stripped
    assert flt.extension_names == ("pub.ext",) and flt.text == "spaced"
    assert one(c(10, ""), c(1, "   ")).text is None and one(c(1, "")).tags == ()  # empty values are ignored
    assert one(c(9, "ignored")).featured  # Featured carries no value; one given is ignored


def test_search_text_is_joined_and_truncated_like_vscode_does():
    assert one(c(10, "hello"), c(10, "world")).text == "hello world"
    long = "x" * (SEARCH_TEXT_LENGTH + 50)
    assert one(c(10, long)).text == "x" * SEARCH_TEXT_LENGTH


def test_a_target_other_than_vscode_matches_nothing():
    assert one(c(8, TARGET)).targets_code
    assert one().targets_code  # no Target criterion: every extension targets VS Code
    assert not one(c(8, "Microsoft.VisualStudio.Services")).targets_code
    assert one(c(8, "Microsoft.VisualStudio.Services"), c(8, TARGET)).targets_code  # OR-ed


@pytest.mark.parametrize(("sort_by", "expected"), [
    (0, "relevance"), (1, "updated"), (2, "title"), (3, "publisher"), (4, "installs"), (5, "published"),
    (6, "rating"), (10, "published"), (12, "weighted_rating"), (7, "trending_daily"), (8, "trending_weekly"),
    (9, "trending_monthly"), (11, "publisher"), ("4", "installs"),
])
def test_sort_by_numbers(sort_by, expected):
    flt = one(sortBy=sort_by)
    assert flt.sort == expected and flt.sort_given


def test_sort_order_defaults_to_descending_except_for_names():
    assert one(sortBy=4).descending and one(sortBy=4, sortOrder=0).descending
    assert not one(sortBy=2).descending and not one(sortBy=3).descending
    assert not one(sortBy=4, sortOrder=1).descending and one(sortBy=2, sortOrder=2).descending
    absent = one()
    assert absent.sort == "relevance" and not absent.sort_given


def test_paging():
    flt = one(pageNumber=3, pageSize=7)
    assert (flt.page_number, flt.page_size, flt.offset) == (3, 7, 14)
    assert one().page_size == DEFAULT_PAGE_SIZE and one().page_number == 1
    assert one(pageSize=0).page_size == DEFAULT_PAGE_SIZE  # 0: the default, as Open VSX does
    names = [c(7, f"pub.e{i}") for i in range(120)]
    assert one(*names, pageSize=0).page_size == 120  # a lookup: room for every name asked
    assert one(pageSize=MAX_PAGE_SIZE).page_size == MAX_PAGE_SIZE
    assert one(pageNumber="2", pageSize="5").offset == 5


def test_several_filters_are_kept_in_order():
    query = parse({"filters": [{"criteria": [c(7, "a.b")]}, {"criteria": [c(10, "x")], "pageSize": 3}], "flags": 1})
    assert [f.extension_names for f in query.filters] == [("a.b",), ()]
    assert query.filters[1].page_size == 3 and query.flags == Flags.INCLUDE_VERSIONS


@pytest.mark.parametrize(("raw", "message"), [
    (None, "JSON object"),
    ([], "JSON object"),
    ("filters", "JSON object"),
    (42, "JSON object"),
    ({}, "'filters' must be a non-empty list"),
    ({"filters": []}, "'filters' must be a non-empty list"),
    ({"filters": {"criteria": []}}, "'filters' must be a non-empty list"),
    ({"filters": "x"}, "'filters' must be a non-empty list"),
    ({"filters": [{}] * (MAX_FILTERS + 1)}, f"at most {MAX_FILTERS} filters"),
    ({"filters": [1]}, "filters[0] must be an object"),
    ({"filters": [{}, []]}, "filters[1] must be an object"),
    ({"filters": [{"criteria": {"filterType": 7}}]}, "filters[0].criteria must be a list"),
    ({"filters": [{"criteria": ["pub.ext"]}]}, "filters[0].criteria[0] must be an object"),
    ({"filters": [{"criteria": [None]}]}, "filters[0].criteria[0] must be an object"),
    (body(c(99, "x")), "filterType 99 is not supported"),
    (body(c(2, "x")), "filterType 2 is not supported"),
    (body({"value": "x"}), "filterType -1 is not supported"),
    (body(c("seven", "x")), "filterType must be an integer"),
    (body(c(1.5, "x")), "filterType must be an integer"),
    (body(c(True, "x")), "filterType must be an integer"),
    (body(c(7)), "criteria[0].value must be a string"),
    (body(c(7, 7)), "criteria[0].value must be a string"),
    (body(c(10, ["a"])), "criteria[0].value must be a string"),
    (body(c(10, "x" * (MAX_VALUE_LENGTH + 1))), f"longer than {MAX_VALUE_LENGTH} characters"),
    (body(c(12, "lots")), "ExcludeWithFlags"),
    (body(flags="lots"), "flags must be an integer"),
    (body(flags=1.5), "flags must be an integer"),
    (body(flags=True), "flags must be an integer"),
    (body(flags=[950]), "flags must be an integer"),
    (body(flags=-1), "flags must be a non-negative 32-bit integer"),
    (body(flags=2**40), "flags must be a non-negative 32-bit integer"),
    (body(flags="--5"), "flags must be an integer"),
    (body(flags="\u00b2"), "flags must be an integer"),  # str.isdigit() says yes, int() says no
    (body(flags="9" * 5000), "flags must be an integer"),  # past int()'s 4300-digit limit
    (body(pageNumber=0), "pageNumber must be 1 or more"),
    (body(pageNumber=-3), "pageNumber must be 1 or more"),
    (body(pageNumber="first"), "pageNumber must be an integer"),
    (body(pageSize=-1), "pageSize must be between 0 and"),
    (body(pageSize=MAX_PAGE_SIZE + 1), "pageSize must be between 0 and"),
    (body(pageSize=10**12), "pageSize must be between 0 and"),
    (body(pageSize="ten"), "pageSize must be an integer"),
    (body(pageSize=2.5), "pageSize must be an integer"),
    (body(pageSize={"n": 1}), "pageSize must be an integer"),
    (body(sortBy=99), "sortBy 99 is not supported"),
    (body(sortBy=-1), "sortBy -1 is not supported"),
    (body(sortBy="name"), "sortBy must be an integer"),
    (body(sortOrder=3), "sortOrder must be 0"),
    (body(sortOrder="up"), "sortOrder must be an integer"),
    ({"filters": [{}], "assetTypes": "x"}, "'assetTypes' must be a list of strings"),
    ({"filters": [{}], "assetTypes": [1]}, "'assetTypes' must be a list of strings"),
])
def test_malformed_bodies_are_bad_requests_that_name_the_problem(raw, message):
    with pytest.raises(BadRequest) as raised:
        parse(raw)
    assert raised.value.status == 400
    assert message in str(raised.value)


def test_too_many_criteria_are_refused():
    with pytest.raises(BadRequest, match="more than 1000 criteria"):
        parse(body(*[c(7, f"p.e{i}") for i in range(1001)]))


def test_the_error_for_an_unknown_filter_type_lists_the_supported_ones():
    with pytest.raises(BadRequest) as raised:
        parse(body(c(3, "x")))
    text = str(raised.value)
    for number, name in ((1, "TAG"), (4, "EXTENSION_ID"), (5, "CATEGORY"), (7, "EXTENSION_NAME"), (8, "TARGET"),
                         (9, "FEATURED"), (10, "SEARCH_TEXT"), (12, "EXCLUDE_WITH_FLAGS")):
        assert f"{number} ({name})" in text
