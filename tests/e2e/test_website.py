"""The website in a real browser: Debian's chromium (Playwright) against ``marketplace serve``, with extensions
published through the real path (``marketplace publish``: presigned upload, ingest, catalog, search index).

Every page must render what it should with nothing in the console (no errors, no Content-Security-Policy
violations, no failed requests), search must work as you type and without JavaScript, the keyboard must reach
the install button, and a hostile README must run nothing. Which layer stops which README attack:

- the ingest (vsce's rules, ``publishing.manifest.assets.check_markdown``) refuses the package when a markdown
  or HTML link uses a script URL: ``[click](javascript:…)``, ``<a href="javascript:…">``;
- the renderer's sanitizer (``web.content``) removes what the ingest lets through: ``<script>``, event handler
  attributes (``onerror``, ``onload``, ``ontoggle``), ``<iframe>``, ``<svg>`` and entity-encoded script URLs
  that the ingest's pattern does not read as ``javascript:``;
- the Content-Security-Policy (no inline script) is the last guard: the test asserts it is sent, and that the
  sanitizer left it nothing to block (any violation would be a console error).

Set ``WEBSITE_SCREENSHOT=1`` to write the extension page's screenshot to ``docs/images/extension-page.png``.
"""

from __future__ import annotations

import os
import re
import struct
import zlib
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING
from urllib.parse import urlencode

import pytest

from tests import vsix_factory
from tests.e2e.browser import PageLog, chromium, expect, require_browser, watched
from tests.e2e.conftest import ROOT, Served, http, serving, wait_until

if TYPE_CHECKING:
    from playwright.sync_api import Browser, Page, Response

pytestmark = [pytest.mark.slow, pytest.mark.real_client]
__all__ = ["chromium"]  # the module-scoped browser fixture, used by every test here

PUBLISHER = "lumen-labs"
NAME, DISPLAY = "word-lens", "Word Lens"
EXTENSION_ID = f"{PUBLISHER}.{NAME}"
WORD = "zephyrquill"  # in the description only: search finds the extension by it
DESCRIPTION = f"Live word counts and reading time in the status bar, powered by the {WORD} tokenizer."
VERSIONS = ("1.2.2", "1.2.3")
README = """# Word Lens

Word Lens shows live word, sentence and character counts for the file you are editing, and how long it takes
to read. It works in Markdown, plain text and LaTeX files.

![Word Lens counting words in a Markdown file](images/screenshot.png)

## Features

- Word and character counts in the status bar, updated as you type
- Reading time at your own pace (see [Settings](#settings))
- Counts only the selection when there is one

## Settings

| Setting | Default | Description |
| --- | --- | --- |
| `wordLens.wordsPerMinute` | `200` | Your reading speed |
| `wordLens.countSelection` | `true` | Count the selection only |

## Usage

```json
{ "wordLens.wordsPerMinute": 240 }
```

Found a bug? Open an issue on [GitHub](https://github.com/lumen-labs/word-lens/issues).
"""
README_SENTENCE = "Word Lens shows live word, sentence and character counts"
CHANGELOG = """# Change Log

## 1.2.3

- Reading time respects `wordLens.wordsPerMinute`.

## 1.2.2

- First public release.
"""
CHANGELOG_LINE = "Reading time respects wordLens.wordsPerMinute."

HOSTILE_NAME = "trap"
HOSTILE_ID = f"{PUBLISHER}.{HOSTILE_NAME}"
HOSTILE_README = """# Trap

Nothing on this page may run.

<script>window.__pwned=1</script>

<img src=x onerror="window.__pwned=2">

<iframe src="javascript:window.__pwned=4"></iframe>

<svg onload="window.__pwned=5"><circle r=1 /></svg>

<details open ontoggle="window.__pwned=7"><summary>Details</summary>Hidden text.</details>

[entity-encoded markdown link](&#106;avascript:window.__pwned=8)

<a href="&#106;avascript:window.__pwned=9">entity-encoded HTML link</a>

<a href="#overview">a link within the README, never to the page around it</a>
"""
# What the ingest refuses outright (each in a package of its own): attack -> the refusal's words
REFUSED_README_LINKS = {
    "[click](javascript:window.__pwned=3)": '"javascript:window.__pwned=3"; links must not use script',
    '<a href="javascript:window.__pwned=6">x</a>': '"javascript:window.__pwned=6"; links must not use script',
}
DASH = "\N{EN DASH}"  # between the parts of a page title
SCREENSHOT = ROOT / "docs" / "images" / "extension-page.png"
SCREENSHOT_VAR = "WEBSITE_SCREENSHOT"


def _png(width: int, height: int, pixel: Callable[[int, int], tuple[int, int, int, int]]) -> bytes:
    """An RGBA PNG drawn by ``pixel(x, y)``."""
    def chunk(kind: bytes, body: bytes) -> bytes:
        return struct.pack(">I", len(body)) + kind + body + struct.pack(">I", zlib.crc32(kind + body))

    rows = b"".join(b"\x00" + b"".join(bytes(pixel(x, y)) for x in range(width)) for y in range(height))
    return (b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", struct.pack(">IIBBBBB", width, height, 8, 6, 0, 0, 0))
            + chunk(b"IDAT", zlib.compress(rows)) + chunk(b"IEND", b""))


def _icon(x: int, y: int) -> tuple[int, int, int, int]:
    """A magnifying glass on a blue-to-violet rounded square, 128 pixels wide."""
    corner = 24
    dx, dy = max(corner - x, x - (127 - corner), 0), max(corner - y, y - (127 - corner), 0)
    if dx * dx + dy * dy > corner * corner:
        return 0, 0, 0, 0
    t = (x + y) / 254
    background = (int(37 + (124 - 37) * t), int(99 + (58 - 99) * t), int(235 + (237 - 235) * t), 255)
    ring = ((x - 56) ** 2 + (y - 56) ** 2) ** 0.5
    on_handle = 78 <= x <= 104 and 78 <= y <= 104 and abs(x - y) <= 6
    return (255, 255, 255, 255) if 26 <= ring <= 35 or on_handle else background


def _screenshot_png(x: int, y: int) -> tuple[int, int, int, int]:
    """A stand-in for the README's screenshot: lines of code in a dark editor above a status bar."""
    if y >= 150:  # the status bar, with "1,234 words · 6 min read" at its right
        return (144, 202, 249, 255) if 226 <= x <= 308 and 157 <= y <= 162 else (0, 122, 204, 255)
    line, row = divmod(y - 8, 14)
    indent, length = 12 + 16 * (line % 3 == 1), 60 + (line * 53) % 150
    if 0 <= line < 10 and 4 <= row <= 8 and 12 + indent <= x <= indent + length:
        colours = ((86, 156, 214), (206, 145, 120), (156, 220, 254), (181, 206, 168))
        return (*colours[(x // 40 + line) % 4], 255)
    return 30, 30, 30, 255


@dataclass(frozen=True)
class Site:
    base: str
    refused: dict[str, str]  # README attack -> what ``marketplace publish`` said

    def url(self, path: str) -> str:
        return self.base + path


HOSTILE_FILES = {  # in the normal extension's package: a web extension's files are served as they are
    "extension/media/page.html": b"<!doctype html><title>x</title><script>document.title='pwned';"
                                 b"window.__pwned=1</script><img src=x onerror=\"window.__pwned=2\">",
    "extension/media/image.svg": b'<svg xmlns="http://www.w3.org/2000/svg" onload="window.__pwned=3">'
                                 b"<script>document.title='pwned';window.__pwned=4</script><circle r='5'/></svg>",
}


def item_path(extension_id: str) -> str:
    return "/items?" + urlencode({"itemName": extension_id})


def _publish(served: Served, package: Path, token: str) -> tuple[int, str]:
    result = served.cli("publish", str(package), "--registry", served.base_url, "--token", token, "--quiet",
                        check=False)
    return result.returncode, (result.stdout + result.stderr).strip()


@pytest.fixture(scope="module")
def site(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Site]:
    """One runtime for the module, with the fixtures published through ``marketplace publish``."""
    require_browser()  # no runtime to start when the browser tests cannot run
    directory = tmp_path_factory.mktemp("website")
    with serving(directory / "serve") as served:
        token = served.cli("publisher", "create", PUBLISHER, "--owner", "lumen-owner").stdout.strip().splitlines()[-1]
        icon, screenshot = _png(128, 128, _icon), _png(320, 170, _screenshot_png)
        normal = [vsix_factory.build_vsix(  # a web extension: its files are served, so the README's image shows
            directory / f"{NAME}-{version}.vsix", publisher=PUBLISHER, name=NAME, version=version, web=True,
            icon=icon, readme=README, changelog=CHANGELOG, extra_files={"extension/images/screenshot.png": screenshot,
                                                               **HOSTILE_FILES},
            package_json_overrides={"displayName": DISPLAY, "description": DESCRIPTION,
                                    "categories": ["Formatters", "Other"],
                                    "keywords": ["words", "reading time", "markdown"]}) for version in VERSIONS]
        hostile = vsix_factory.build_vsix(directory / "trap.vsix", publisher=PUBLISHER, name=HOSTILE_NAME,
                                          readme=HOSTILE_README, package_json_overrides={
                                              "displayName": "Trap", "description": "A README that tries to run."})
        refused = {attack: vsix_factory.build_vsix(directory / f"refused-{i}.vsix", publisher=PUBLISHER,
                                                   name=f"refused-{i}", readme=f"# Refused\n\n{attack}\n")
                   for i, attack in enumerate(REFUSED_README_LINKS)}

        def publish_normal() -> list[tuple[int, str]]:
            return [_publish(served, package, token) for package in normal]  # in order: 1.2.3 is the newest

        with ThreadPoolExecutor(max_workers=4) as pool:
            normal_done = pool.submit(publish_normal)
            hostile_done = pool.submit(_publish, served, hostile, token)
            refused_done = {attack: pool.submit(_publish, served, package, token)
                            for attack, package in refused.items()}
            assert normal_done.result() == [(0, f"Published {EXTENSION_ID} v{v}.") for v in VERSIONS]
            assert hostile_done.result() == (0, f"Published {HOSTILE_ID} v1.0.0.")
            answers = {attack: done.result() for attack, done in refused_done.items()}
        # the search index (home, search) follows the catalog within moments
        wait_until(lambda: DISPLAY.encode() in http("GET", f"{served.base_url}/search?q={WORD}")[2], timeout=60)
        yield Site(served.base_url, {attack: f"{code}: {said}" for attack, (code, said) in answers.items()})


# --- every page -----------------------------------------------------------------------------------------------

@dataclass(frozen=True)
class Expected:
    path: str
    status: int
    title: str
    texts: tuple[str, ...]  # in <main>


PAGES = {
    "home": Expected("/", 200, "Marketplace: extensions for VS Code-style editors",
                     ("Extensions for your editor", "2 extensions for VS Code", DISPLAY)),
    "search": Expected(f"/search?q={WORD}", 200, f"“{WORD}” {DASH} Search {DASH} Marketplace",
                       (f"Results for “{WORD}”", "1 extension", DISPLAY, DESCRIPTION)),
    "extension": Expected(item_path(EXTENSION_ID), 200, f"{DISPLAY} {DASH} Marketplace",
                          (DISPLAY, DESCRIPTION, f"Version {VERSIONS[-1]}", f"code --install-extension {EXTENSION_ID}",
                           README_SENTENCE, CHANGELOG_LINE)),
    "publisher": Expected(f"/publishers/{PUBLISHER}", 200, f"{PUBLISHER} {DASH} Marketplace",
                          (PUBLISHER, "2 extensions", DISPLAY, "Trap")),
    "no such extension": Expected(item_path(f"{PUBLISHER}.no-such-thing"), 404, f"Page not found {DASH} Marketplace",
                                  (f"There is no extension {PUBLISHER}.no-such-thing.", "Error 404")),
    "no such publisher": Expected("/publishers/nobody-here", 404, f"Page not found {DASH} Marketplace",
                                  ("There is no publisher nobody-here", "Error 404")),
}


def _load(page: Page, site: Site, path: str) -> Response:
    """Open ``path`` and let the page settle (late images, the search script) before anything is checked."""
    answer = page.goto(site.url(path))
    assert answer is not None
    page.wait_for_load_state("networkidle")
    return answer


def _no_problems(log: PageLog, *, status: int = 200) -> None:
    problems = log.problems(allow_statuses=(status,) if status >= 400 else ())
    assert problems == [], "\n".join(problems)


@pytest.mark.parametrize("name", PAGES)
def test_every_page_renders_what_it_should_with_a_clean_console(chromium: Browser, site: Site, name: str) -> None:
    expected = PAGES[name]
    with watched(chromium) as w:
        answer = _load(w.page, site, expected.path)
        assert answer.status == expected.status
        policy = answer.headers["content-security-policy"]
        assert "script-src 'self'" in policy and "unsafe-inline" not in policy
        assert w.page.title() == expected.title
        main = w.page.locator("main").inner_text()
        missing = [text for text in expected.texts if text not in main]
        assert missing == [], main
        _no_problems(w.log, status=expected.status)


def test_the_extension_page_offers_install_download_history_and_images(chromium: Browser, site: Site) -> None:
    with watched(chromium) as w:
        page = w.page
        _load(page, site, item_path(EXTENSION_ID))
        expect(page.locator("#install")).to_have_attribute("href", f"vscode:extension/{EXTENSION_ID}")
        expect(page.locator(".install code")).to_have_text(f"code --install-extension {EXTENSION_ID}")
        download = page.get_by_role("link", name="Download the .vsix").get_attribute("href") or ""
        assert download.endswith(f"/vsextensions/{NAME}/{VERSIONS[-1]}/vspackage")
        expect(page.locator("table.history tbody tr td:first-child")).to_have_text(list(reversed(VERSIONS)))
        expect(page.locator("#changelog .markdown")).to_contain_text(CHANGELOG_LINE)
        images = page.locator("header img.icon, #overview .markdown img")
        expect(images).to_have_count(2)  # the icon, and the README's image from the package's own files
        sizes = images.evaluate_all("found => found.map(i => [i.complete, i.naturalWidth, i.naturalHeight])")
        assert sizes == [[True, 128, 128], [True, 320, 170]]
        _no_problems(w.log)


# --- search ---------------------------------------------------------------------------------------------------

def test_search_updates_the_results_as_you_type(chromium: Browser, site: Site) -> None:
    with watched(chromium) as w:
        page = w.page
        _load(page, site, "/search")
        cards = page.locator("#results .card-title")
        expect(cards).to_have_count(2)
        page.evaluate("window.__sameDocument = true")
        page.locator("#live-q").press_sequentially(WORD, delay=20)  # typed, never submitted
        expect(cards).to_have_text([DISPLAY])
        expect(page.locator("#results .count")).to_have_text("1 extension")
        expect(page).to_have_url(re.compile(rf"/search\?q={WORD}(&|$)"))
        assert page.evaluate("window.__sameDocument") is True, "the page was reloaded, not updated"
        _no_problems(w.log)


def test_search_as_you_type_leaves_no_empty_parameters_in_the_url(chromium: Browser, site: Site) -> None:
    with watched(chromium) as w:
        page = w.page
        _load(page, site, "/search")
        page.locator("#live-q").press_sequentially(WORD, delay=20)
        expect(page.locator("#results .card-title")).to_have_text([DISPLAY])
        # the URL changes with the results (same task): no need to wait long for it
        expect(page).to_have_url(re.compile(rf"/search\?q={WORD}$"), timeout=2_000)


# --- a hostile README -----------------------------------------------------------------------------------------

def test_the_ingest_refuses_script_links_in_a_readme(site: Site) -> None:
    for attack, words in REFUSED_README_LINKS.items():
        said = site.refused[attack]
        assert said.startswith("1: marketplace: rejected: ") and words in said, (attack, said)
    for index in range(len(REFUSED_README_LINKS)):
        assert http("GET", site.url(item_path(f"{PUBLISHER}.refused-{index}")))[0] == 404


@pytest.mark.parametrize("name", sorted(HOSTILE_FILES))
def test_a_packages_own_html_or_svg_opened_from_the_cdn_runs_nothing(chromium: Browser, site: Site,
                                                                     name: str) -> None:
    # a web extension's files are served from the website's own origin: without the assets' sandbox policy,
    # opening one of them would run its script with the website's origin (its cookies, its pages)
    with watched(chromium) as w:
        page = w.page
        _load(page, site, item_path(EXTENSION_ID))
        icon = page.locator("header img.icon").get_attribute("src")
        assert icon is not None and icon.endswith("/Microsoft.VisualStudio.Services.Icons.Default")
        url = icon.rsplit("/", 1)[0] + "/Microsoft.VisualStudio.Code.WebResources/" + name
        answer = page.goto(url)
        assert answer is not None and answer.status == 200
        assert "sandbox" in answer.headers["content-security-policy"].split("; ")
        page.wait_for_timeout(300)  # an onload handler would have run by now
        assert page.evaluate("document.title") != "pwned"
        assert page.evaluate("typeof window.__pwned") == "undefined"


def test_a_hostile_readme_runs_nothing(chromium: Browser, site: Site) -> None:
    with watched(chromium) as w:
        page = w.page
        answer = _load(page, site, item_path(HOSTILE_ID))
        assert "script-src 'self'" in answer.headers["content-security-policy"]
        readme = page.locator("#overview .markdown")
        expect(readme).to_contain_text("Nothing on this page may run.")
        expect(readme).to_contain_text("Hidden text.")
        in_page = readme.locator("a[href^='#']")
        expect(in_page).to_have_count(1)
        for index in range(in_page.count()):
            in_page.nth(index).click()
        page.wait_for_load_state("networkidle")
        expect(page).to_have_url(re.compile(r"/items\?itemName=lumen-labs\.trap#user-content-overview$"))
        assert page.evaluate("typeof window.__pwned") == "undefined"
        assert readme.locator("script, iframe, frame, object, embed, svg, math, style, form").count() == 0
        leftovers = readme.evaluate("""root => [root, ...root.querySelectorAll("*")].flatMap(element =>
            [...element.attributes]
                .filter(a => /^on/i.test(a.name) || /^\\s*(javascript|vbscript|data):/i.test(a.value))
                .map(a => `<${element.localName} ${a.name}="${a.value}">`))""")
        assert leftovers == []
        schemes = readme.locator("a").evaluate_all("links => links.map(a => a.protocol)")
        assert set(schemes) <= {"http:", "https:", "mailto:"}, schemes
        _no_problems(w.log)  # no dialog, no error, and no CSP violation: the sanitizer left the CSP nothing to do


# --- keyboard -------------------------------------------------------------------------------------------------

FOCUSED = """() => { const e = document.activeElement, text = (e.textContent || e.value || "").trim();
    return `${e.localName}${e.id ? "#" + e.id : ""} ${text.slice(0, 30)}`; }"""  # "a#install Install"


def test_the_keyboard_reaches_the_install_button(chromium: Browser, site: Site) -> None:
    with watched(chromium) as w:
        page = w.page
        _load(page, site, item_path(EXTENSION_ID))
        page.keyboard.press("Tab")
        assert page.evaluate(FOCUSED) == "a Skip to content"
        box = page.locator("a.skip").bounding_box()
        assert box is not None and box["x"] >= 0 and box["width"] > 1, "the focused skip link is off screen"
        stops = []
        for _ in range(60):
            if page.evaluate("document.activeElement.id") == "install":
                break
            page.keyboard.press("Tab")
            stops.append(page.evaluate(FOCUSED))
        else:
            pytest.fail(f"60 presses of Tab never reached #install: {stops}")
        expect(page.locator("#install")).to_be_focused()
        expect(page.locator("#install")).to_be_in_viewport()

        _load(page, site, item_path(EXTENSION_ID))  # from the top again, through the skip link this time
        page.keyboard.press("Tab")
        page.keyboard.press("Enter")
        page.keyboard.press("Tab")
        assert page.evaluate("document.getElementById('main').contains(document.activeElement)"), \
            f"after the skip link, Tab went to {page.evaluate(FOCUSED)}"
        _no_problems(w.log)


# --- without JavaScript ---------------------------------------------------------------------------------------

def test_pages_work_without_javascript(chromium: Browser, site: Site) -> None:
    with watched(chromium, java_script=False) as w:
        page = w.page
        _load(page, site, item_path(EXTENSION_ID))
        expect(page.locator("#overview .markdown")).to_contain_text(README_SENTENCE)
        page.locator("#q").fill(WORD)  # the header's search box
        page.locator("#q").press("Enter")
        page.wait_for_url(re.compile(rf"/search\?q={WORD}$"))
        expect(page.locator("#results .card-title")).to_have_text([DISPLAY])

        _load(page, site, "/search")  # the search page's own form, submitted with its button
        page.locator("#live-q").fill(WORD)
        page.get_by_role("button", name="Apply").click()
        page.wait_for_url(re.compile(rf"/search\?q={WORD}&"))
        expect(page.locator("#results .card-title")).to_have_text([DISPLAY])
        expect(page.locator("h1")).to_have_text(f"Results for “{WORD}”")
        _no_problems(w.log)


# --- the screenshot in the docs -------------------------------------------------------------------------------

def test_a_screenshot_of_the_extension_page(chromium: Browser, site: Site) -> None:
    """Always taken (it must work); written to the docs only when asked, so test runs leave the tree alone."""
    with watched(chromium, viewport={"width": 1280, "height": 900}) as w:
        page = w.page
        _load(page, site, item_path(EXTENSION_ID))
        page.wait_for_function("[...document.images].every(i => i.complete && i.naturalWidth > 0)")
        png = page.screenshot(type="png", animations="disabled", caret="hide")
        _no_problems(w.log)
    assert png.startswith(b"\x89PNG\r\n\x1a\n") and struct.unpack(">II", png[16:24]) == (1280, 900)
    if os.environ.get(SCREENSHOT_VAR) == "1":
        SCREENSHOT.parent.mkdir(parents=True, exist_ok=True)
        SCREENSHOT.write_bytes(png)
