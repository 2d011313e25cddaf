"""The in-memory search index: matching, ranking, filters, sorts, paging and incremental changes."""

from __future__ import annotations

import random
import threading
from dataclasses import replace
from datetime import UTC, datetime, timedelta

import pytest

from marketplace.catalog.model import ExtensionView, VersionView
from marketplace.search import analysis
from marketplace.search.encoding import document_of
from marketplace.search.index import SearchIndex, SearchRequest

BASE = datetime(2026, 1, 1, tzinfo=UTC)


def version(number: str = "1.0.0", *, target: str = "universal", pre: bool = False, web: bool = False,
            days: int = 0) -> VersionView:
    return VersionView(version=number, target_platform=target, pre_release=pre,
                       published_at=BASE + timedelta(days=days), engine="^1.80.0",
                       asset_base=f"assets/p/n/{number}/{target}/u", assets=(), web_extension=web)


def extension(extension_id: str, *, display: str | None = None, description: str = "", tags: tuple[str, ...] = (),
              categories: tuple[str, ...] = ("Other",), installs: int = 0, downloads: int = 0,
              rating: tuple[float, int] | None = None, versions: tuple[VersionView, ...] | None = None,
              verified: bool = True, deprecated: bool = False, featured: bool = False, unpublished: bool = False,
              created: int = 0, updated: int = 0) -> ExtensionView:
    publisher, name = extension_id.split(".")
    chosen = versions if versions is not None else (version(),)
    releases = [v.version for v in chosen if not v.pre_release]
    pres = [v.version for v in chosen if v.pre_release]
    view = ExtensionView(
        extension_id=extension_id.lower(), publisher=publisher, name=name, display_name=display,
        description=description, categories=categories, tags=tags,
        latest_version=releases[0] if releases else None, latest_prerelease=pres[0] if pres else None,
        created_at=BASE + timedelta(days=created), updated_at=BASE + timedelta(days=updated), versions=(),
        verified=verified, deprecated=deprecated, featured=featured, unpublished=unpublished,
        installs=installs, downloads=downloads, average_rating=rating[0] if rating else None,
        rating_count=rating[1] if rating else 0,
    )
    return view.with_versions(chosen, all_versions=True)


def ids(index: SearchIndex, **request: object) -> list[str]:
    return [v.extension_id for v in index.search(SearchRequest(**request)).views]  # type: ignore[arg-type]


def total(index: SearchIndex, **request: object) -> int:
    return index.search(SearchRequest(**request)).total  # type: ignore[arg-type]


@pytest.fixture
def catalog() -> SearchIndex:
    index = SearchIndex()
    for view in (
        extension("ms-python.python", display="Python", description="IntelliSense, linting, debugging for Python",
                  tags=("python", "debuggers"), categories=("Programming Languages", "Debuggers"),
                  installs=9_000_000, rating=(4.2, 500), created=1, updated=30),
        extension("acme.pylint", display="Pylint", description="Lint Python code with pylint",
                  tags=("python", "linter"), categories=("Linters",), installs=50_000, created=2, updated=20),
        extension("acme.python-snippets", display="Python Snippets", description="Handy snippets",
                  tags=("snippets",), categories=("Snippets",), installs=20_000, created=3, updated=10),
        extension("tiny.pyramid", display="Pyramid Tools", description="Pyramid web framework helpers",
                  installs=10, created=4, updated=5),
        extension("themes.dark", display="Dark Night", description="A dark colour theme",
                  tags=("theme", "dark"), categories=("Themes",), installs=300_000, created=5, updated=40,
                  rating=(5.0, 2)),
        extension("eamodio.gitlens", display="GitLens — Git supercharged", description="Supercharge Git",
                  tags=("git",), categories=("SCM Providers",), installs=5_000_000, rating=(4.8, 900),
                  created=6, updated=50),
        extension("old.python-legacy", display="Python Legacy", description="The old Python support",
                  tags=("python",), installs=9_000_000, deprecated=True, created=7, updated=1),
        extension("native.tool", display="Native Tool", description="Needs binaries",
                  versions=(version(target="linux-x64"), version(target="darwin-arm64")), installs=100,
                  created=8, updated=2),
        extension("web.only", display="Web Thing", description="Runs in the browser", versions=(version(web=True),),
                  installs=100, featured=True, created=9, updated=3),
        extension("pre.view", display="Preview Only", description="Only a pre-release",
                  versions=(version("0.2.0", pre=True),), installs=5, created=10, updated=4),
        extension("cpp.tools", display="C/C++", description="C++ IntelliSense", tags=("c++",), installs=7_000_000,
                  created=11, updated=6),
    ):
        index.upsert(view)
    return index


def test_an_exact_id_or_name_comes_first(catalog: SearchIndex):
    assert ids(catalog, text="python")[0] == "ms-python.python"
    assert ids(catalog, text="ms-python.python")[0] == "ms-python.python"
    assert ids(catalog, text="Pylint")[0] == "acme.pylint"
    assert ids(catalog, text="  DARK   night ")[0] == "themes.dark"


def test_display_name_matches_outrank_description_matches(catalog: SearchIndex):
    found = ids(catalog, text="python")
    # acme.pylint mentions Python only in its description and tags, Python Snippets has it in its name
    assert found.index("acme.python-snippets") < found.index("acme.pylint")
    assert set(found) == {"ms-python.python", "acme.pylint", "acme.python-snippets", "old.python-legacy"}


def test_deprecated_and_unverified_are_demoted_not_removed(catalog: SearchIndex):
    found = ids(catalog, text="python")
    assert found.index("old.python-legacy") > found.index("acme.python-snippets")  # as popular as ms-python
    index = SearchIndex()
    index.upsert(extension("a.tool-one", display="Tool One", installs=1000, verified=False))
    index.upsert(extension("b.tool-two", display="Tool Two", installs=1000, verified=True))
    assert ids(index, text="tool") == ["b.tool-two", "a.tool-one"]


def test_prefixes_find_words_as_you_type(catalog: SearchIndex):
    assert "ms-python.python" in ids(catalog, text="pyth")
    assert ids(catalog, text="pyr") == ["tiny.pyramid"]
    assert ids(catalog, text="p") == []  # one letter: whole words only
    assert ids(catalog, text="gitl") == ["eamodio.gitlens"]
    assert ids(catalog, text="super") == ["eamodio.gitlens"]  # "supercharged" and "Supercharge"


def test_words_are_and_ed_and_split_like_names(catalog: SearchIndex):
    assert ids(catalog, text="python snippets") == ["acme.python-snippets"]
    assert ids(catalog, text="python zzz") == []
    assert ids(catalog, text="git lens") == ["eamodio.gitlens"]  # camel case parts of GitLens
    assert ids(catalog, text="c++") == ["cpp.tools"]
    assert ids(catalog, text="the python")[0] == "ms-python.python"  # stop words are skipped


def test_installs_order_equal_matches(catalog: SearchIndex):
    index = SearchIndex()
    for installs in (5, 500, 50):
        index.upsert(extension(f"p{installs}.helper", display="Helper", installs=installs))
    assert ids(index, text="help") == ["p500.helper", "p50.helper", "p5.helper"]


def test_browsing_by_relevance_lists_the_most_installed(catalog: SearchIndex):
    found = ids(catalog)
    assert found[:3] == ["ms-python.python", "old.python-legacy", "cpp.tools"]
    assert total(catalog) == len(catalog) == 11


def test_filters(catalog: SearchIndex):
    assert ids(catalog, categories=("linters",)) == ["acme.pylint"]
    assert ids(catalog, categories=("LINTERS", "themes"), sort="title", descending=False) == [
        "themes.dark", "acme.pylint"]
    assert ids(catalog, tags=("DARK", "git")) == ["eamodio.gitlens", "themes.dark"]
    assert ids(catalog, featured=True) == ["web.only"]
    assert ids(catalog, text="python", categories=("Snippets",)) == ["acme.python-snippets"]
    assert ids(catalog, tags=("__web_extension",)) == ["web.only"]
    assert ids(catalog, categories=("Nope",)) == [] and total(catalog, categories=("Nope",)) == 0


def test_target_platform_follows_vs_code(catalog: SearchIndex):
    linux = ids(catalog, target_platform="linux-x64")
    assert "native.tool" in linux and "ms-python.python" in linux  # its own build, or a universal one
    assert "native.tool" not in ids(catalog, target_platform="win32-x64")
    assert ids(catalog, target_platform="web") == ["web.only"]  # only web extensions run in the browser
    assert total(catalog, target_platform="win32-x64") == len(catalog) - 1


def test_pre_release_filter(catalog: SearchIndex):
    assert ids(catalog, pre_release=True) == ["pre.view"]
    assert "pre.view" not in ids(catalog, pre_release=False, limit=100)
    assert total(catalog, pre_release=False) == len(catalog) - 1


@pytest.mark.parametrize(("sort", "descending", "first"), [
    ("installs", True, "ms-python.python"), ("installs", False, "pre.view"),
    ("downloads", True, "ms-python.python"),
    ("updated", True, "eamodio.gitlens"), ("updated", False, "old.python-legacy"),
    ("published", True, "cpp.tools"), ("published", False, "ms-python.python"),
    ("title", False, "cpp.tools"), ("title", True, "web.only"),
    ("publisher", False, "acme.pylint"), ("publisher", True, "web.only"),
    ("rating", True, "themes.dark"), ("weighted_rating", True, "eamodio.gitlens"),
])
def test_sorts(catalog: SearchIndex, sort: str, descending: bool, first: str):
    found = ids(catalog, sort=sort, descending=descending, limit=100)
    assert found[0] == first
    assert len(found) == len(catalog)
    assert ids(catalog, sort=sort, descending=not descending, limit=100) == found[::-1]


def test_weighted_rating_pulls_few_ratings_toward_the_prior(catalog: SearchIndex):
    # themes.dark: 5.0 from 2 ratings, below 4.2 from 500 and 4.8 from 900
    assert ids(catalog, sort="rating", limit=3) == ["themes.dark", "eamodio.gitlens", "ms-python.python"]
    assert ids(catalog, sort="weighted_rating", limit=3) == ["eamodio.gitlens", "ms-python.python", "themes.dark"]
    from marketplace.gallery.serialize import weighted_rating

    view = catalog.get("themes.dark")
    assert view is not None
    assert analysis.weighted_rating(view.average_rating, view.rating_count) == weighted_rating(view)


def test_text_search_with_another_sort(catalog: SearchIndex):
    assert ids(catalog, text="python", sort="title", descending=False) == [
        "acme.pylint", "ms-python.python", "old.python-legacy", "acme.python-snippets"]


def test_paging_and_totals(catalog: SearchIndex):
    everything = ids(catalog, text="python", limit=100)
    pages = ids(catalog, text="python", limit=2) + ids(catalog, text="python", offset=2, limit=2)
    assert pages == everything and total(catalog, text="python", limit=2) == 4
    assert ids(catalog, text="python", offset=10) == [] and total(catalog, text="python", offset=10) == 4
    assert ids(catalog, limit=0) == [] and total(catalog, limit=0) == len(catalog)
    browse = ids(catalog, limit=100)
    assert ids(catalog, offset=3, limit=4) == browse[3:7]


def test_unknown_sort_is_refused(catalog: SearchIndex):
    with pytest.raises(ValueError, match="unknown sort"):
        catalog.search(SearchRequest(sort="nope"))


def test_unpublished_and_empty_extensions_are_not_indexed(catalog: SearchIndex):
    catalog.upsert(extension("gone.away", display="Gone", unpublished=True))
    catalog.upsert(extension("no.versions", display="Nothing", versions=()))
    assert "gone.away" not in catalog and "no.versions" not in catalog
    pylint = catalog.get("acme.pylint")
    assert pylint is not None
    catalog.upsert(replace(pylint, unpublished=True))
    assert "acme.pylint" not in catalog and ids(catalog, text="pylint") == []


def test_views_hold_head_versions_only():
    index = SearchIndex()
    index.upsert(extension("a.b", versions=(version("1.0.0"), version("1.1.0"), version("2.0.0", pre=True),
                                            version("1.1.0", target="linux-x64"))))
    view = index.get("A.B")
    assert view is not None and not view.all_versions
    assert [(v.version, v.target_platform) for v in view.versions] == [
        ("2.0.0", "universal"), ("1.1.0", "linux-x64"), ("1.1.0", "universal")]


def test_updates_replace_and_removals_forget(catalog: SearchIndex):
    catalog.upsert(extension("acme.pylint", display="Ruff Fast", description="An extremely fast linter",
                             installs=60_000))
    assert ids(catalog, text="code") == [] and ids(catalog, text="ruff") == ["acme.pylint"]
    assert ids(catalog, sort="installs", limit=100).index("acme.pylint") == ids(
        catalog, sort="installs", limit=100).index("themes.dark") + 1
    catalog.remove("ACME.PYLINT")
    assert "acme.pylint" not in catalog and ids(catalog, text="ruff") == []
    assert "acme.pylint" not in ids(catalog, sort="installs", limit=100)
    catalog.remove("never.there")


def _random_view(rng: random.Random, number: int) -> ExtensionView:
    words = ["alpha", "beta", "gamma", "delta", "epsilon", "python", "java", "rust", "theme", "lint"]
    return extension(
        f"p{rng.randint(0, 30)}.e{number}", display=" ".join(rng.sample(words, 2)),
        description=" ".join(rng.choices(words, k=5)), tags=tuple(rng.sample(words, 2)),
        categories=(rng.choice(["Themes", "Linters", "Other"]),), installs=rng.randint(0, 10_000),
        downloads=rng.randint(0, 10_000),
        rating=(rng.uniform(1, 5), rng.randint(1, 50)) if rng.random() < 0.5 else None,
        verified=rng.random() < 0.5, deprecated=rng.random() < 0.1, created=rng.randint(0, 99),
        updated=rng.randint(0, 99))


def test_incremental_changes_give_the_same_answers_as_a_fresh_index():
    rng = random.Random(3)
    incremental = SearchIndex()
    incremental.apply([document_of(_random_view(rng, n)) for n in range(400)])  # one bulk change
    live = {d.extension_id: d for d in incremental.documents()}
    incremental.settle()
    incremental.search(SearchRequest(sort="title"))  # make an ordering that must then be kept up to date
    for step in range(300):  # then small changes, each kept sorted as it happens
        if rng.random() < 0.3 and live:
            gone = rng.choice(sorted(live))
            incremental.remove(gone)
            del live[gone]
        else:
            document = document_of(_random_view(rng, rng.randint(0, 500)))
            incremental.apply([document])
            live[document.extension_id] = document
        if step % 50 == 0:
            incremental.search(SearchRequest(sort="installs"))
    fresh = SearchIndex()
    fresh.apply(list(live.values()))
    assert len(fresh) == len(incremental) == len(live)
    for request in (SearchRequest(), SearchRequest(text="python"), SearchRequest(text="be"),
                    SearchRequest(text="lint theme", categories=("Linters",)), SearchRequest(sort="title", limit=500),
                    SearchRequest(sort="installs", descending=False, limit=500),
                    SearchRequest(sort="weighted_rating", tags=("rust",)), SearchRequest(sort="publisher", limit=500),
                    SearchRequest(text="alpha", sort="updated", limit=500)):
        expected = fresh.search(request)
        found = incremental.search(request)
        assert found.total == expected.total
        assert [v.extension_id for v in found.views] == [v.extension_id for v in expected.views], request


def test_concurrent_readers_and_a_writer():
    rng = random.Random(5)
    index = SearchIndex()
    index.apply([document_of(_random_view(rng, n)) for n in range(300)])
    errors: list[BaseException] = []

    def read() -> None:
        try:
            for _ in range(200):
                result = index.search(SearchRequest(text="python", limit=10))
                assert len(result.views) <= 10
        except BaseException as error:
            errors.append(error)

    readers = [threading.Thread(target=read) for _ in range(3)]
    for thread in readers:
        thread.start()
    for number in range(200):
        index.apply([document_of(_random_view(rng, 1000 + number))], [f"p{rng.randint(0, 30)}.e{number}"])
    for thread in readers:
        thread.join()
    assert errors == []
