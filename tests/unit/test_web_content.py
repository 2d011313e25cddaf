"""README/CHANGELOG rendering: untrusted markdown in, inert HTML out, URLs following the link policy."""

import re
from html.parser import HTMLParser
from urllib.parse import urlsplit

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from markdown_it import MarkdownIt
from markupsafe import Markup

from marketplace.web import content
from marketplace.web.content import MAX_MARKDOWN_CHARS, LinkPolicy, render_markdown

OWN = "https://host/assets/ns/name/1.0.0/Microsoft.VisualStudio.Code.WebResources/extension/"
SERVED = LinkPolicy(package_files=OWN, repository="https://github.com/o/r")
UNSERVED = LinkPolicy(package_files=None, repository="https://github.com/o/r.git")
BARE = LinkPolicy(package_files=None, repository=None)
CONSENTED = LinkPolicy(package_files=OWN, repository=None, remote_images=True)
REL = "nofollow noopener noreferrer ugc"

ALLOWED_TAGS = {
    "h1", "h2", "h3", "h4", "h5", "h6", "p", "br", "hr", "a", "img", "ul", "ol", "li", "blockquote", "pre", "code",
    "em", "strong", "del", "s", "kbd", "sup", "sub", "table", "thead", "tbody", "tr", "th", "td", "details",
    "summary", "div", "span",
}
ALLOWED_ATTRIBUTES = {
    "a": {"href", "title", "rel"},
    "img": {"src", "alt", "title", "width", "height"},
    "th": {"align"},
    "td": {"align"},
    "ol": {"start"},
    **{heading: {"id"} for heading in ("h1", "h2", "h3", "h4", "h5", "h6")},  # always user-content-…
}


class _Parsed(HTMLParser):
    def __init__(self, html: str) -> None:
        super().__init__(convert_charrefs=True)
        self.elements: list[tuple[str, dict[str, str]]] = []
        self.chunks: list[str] = []
        self.feed(html)
        self.close()

    def handle_starttag(self, tag, attrs):
        self.elements.append((tag, {name: value or "" for name, value in attrs}))

    def handle_data(self, data):
        self.chunks.append(data)

    @property
    def text(self) -> str:
        return "".join(self.chunks)

    def all(self, tag: str) -> list[dict[str, str]]:
        return [attrs for name, attrs in self.elements if name == tag]


def parsed(markdown: str, policy: LinkPolicy = SERVED) -> _Parsed:
    return _Parsed(render_markdown(markdown, policy))


def assert_inert(html: str, policy: LinkPolicy) -> None:
    lowered = html.lower()
    for fragment in ("<script", "<iframe", "<svg", "<math", "<form", "<input", "<base", "<meta", "<object", "<embed",
                     "<style", "<link"):
        assert fragment not in lowered
    for tag, attrs in _Parsed(html).elements:
        assert tag in ALLOWED_TAGS
        assert set(attrs) <= ALLOWED_ATTRIBUTES.get(tag, set()), (tag, attrs)
        for name, value in attrs.items():
            assert not name.startswith("on")
            # what a browser would take for the scheme; "javascript:" inside an https URL's path is inert
            assert not re.sub(r"[\x00-\x20]", "", value).lower().startswith(("javascript:", "vbscript:", "data:"))
        if tag == "a":
            assert attrs["rel"] == REL
            assert "href" in attrs
            href = attrs["href"]
            assert href.startswith("#") or urlsplit(href).scheme in {"http", "https", "mailto"}, href
        if tag == "img":
            src = attrs["src"]
            assert src.startswith(OWN) or (policy.remote_images and urlsplit(src).scheme == "https"), src


HOSTILE = [
    "<script>alert(1)</script>",
    "<img src=x onerror=alert(1)>",
    "[x](javascript:alert(1))",
    "[x](JaVaScRiPt:alert(1))",
    "[x](java&#x09;script:alert(1))",
    "[x]( javascript:alert(1))",
    "[x](<java\tscript:alert(1)>)",
    '<a href="javascript:alert(1)">x</a>',
    '<a href="java&#x09;script:alert(1)">x</a>',
    '<a href="&#x6a;avascript&colon;alert(1)">x</a>',
    '<a href=" &#0;javascript:alert(1)">x</a>',
    '<a href="vbscript:msgbox(1)">x</a>',
    '<a href="file:///etc/passwd">x</a>',
    '<iframe src="https://evil">',
    '<iframe srcdoc="<script>alert(1)</script>"></iframe>',
    "<svg onload=alert(1)><circle/></svg>",
    "<math><mtext><table><mglyph><style><img src=x onerror=alert(1)>",
    "<noscript><p title=\"</noscript><img src=x onerror=alert(1)>\">",
    '<div style="background:url(javascript:alert(1))">',
    "<form action=https://evil><input name=a><button formaction=javascript:alert(1)>go</button></form>",
    '<a href="data:text/html,<script>alert(1)</script>">x</a>',
    "![x](data:image/svg+xml;base64,PHN2Zz4=)",
    '<img src="data:image/png;base64,AAAA">',
    "<object data=x>",
    "<embed src=x>",
    '<meta http-equiv=refresh content="0;url=https://evil">',
    '<base href="https://evil/">',
    "<details open ontoggle=alert(1)>",
    '<a href="https://ok" onclick="alert(1)" target="_blank" rel="opener">x</a>',
    '<img src="https://cdn.example/x.png" onload="alert(1)" alt="a">',
    "<template><script>alert(1)</script></template>",
    '<link rel=stylesheet href="https://evil/x.css">',
    "<style>@import 'https://evil/x.css';</style>",
    '<p style="position:fixed" class="x" id="y">x</p>',
]


@pytest.mark.parametrize("markdown", HOSTILE)
@pytest.mark.parametrize("policy", [SERVED, UNSERVED, BARE, CONSENTED])
def test_hostile_input_comes_out_inert(markdown, policy):
    html = render_markdown(markdown, policy)
    assert_inert(html, policy)
    assert "srcdoc" not in html
    assert "style=" not in html


@settings(max_examples=300, deadline=None)
@given(st.lists(st.sampled_from([
    "<", ">", "script", "onerror=", "javascript:", '"', "'", "[", "](", ")", "!", "svg", "img", " ", "=", "&#", "\n",
]), max_size=60).map("".join))
def test_arbitrary_dangerous_fragments_stay_inert(markdown):
    for policy in (SERVED, UNSERVED, CONSENTED):
        assert_inert(render_markdown(markdown, policy), policy)


def test_returns_markup_that_jinja_will_not_escape_again():
    assert isinstance(render_markdown("hi", SERVED), Markup)


@pytest.mark.parametrize(
    "tag",
    ["picture", "source", "video", "audio", "iframe", "object", "embed", "form", "input", "button", "style", "script",
     "svg", "math", "base", "meta", "link", "textarea", "select", "template", "frame", "b", "font"],
)
def test_tags_outside_the_allow_list_are_dropped(tag):
    page = parsed(f'<div><{tag} src="https://cdn.example/x" href="https://cdn.example/x">inner</{tag}></div>')
    assert [name for name, _ in page.elements] == ["div"]


def test_scripts_styles_and_foreign_content_are_dropped_with_their_content():
    dropped = ("script", "style", "template", "noscript", "iframe", "object", "svg", "math", "select", "textarea",
               "title", "noembed", "noframes", "xmp")
    page = parsed("<div>" + "".join(f"<{tag}>{tag}</{tag}>" for tag in dropped) + "kept</div>")
    assert page.text == "kept"


def test_every_allowed_tag_survives():
    html = "".join(f"<{tag}>x</{tag}>" for tag in ("h1", "h2", "h3", "h4", "h5", "h6", "p", "em", "strong", "del",
                                                   "s", "kbd", "sup", "sub", "blockquote", "div", "span"))
    html += "<br><hr><ul><li>x</li></ul><ol start=3><li>x</li></ol><pre><code>x</code></pre>"
    html += "<table><thead><tr><th>x</th></tr></thead><tbody><tr><td>x</td></tr></tbody></table>"
    html += "<details><summary>s</summary>x</details>"
    html += '<a href="https://e.example">x</a><img src="img.png" alt="x">'
    assert {name for name, _ in parsed(html).elements} == ALLOWED_TAGS


def test_attributes_outside_the_allow_list_are_dropped():
    page = parsed(
        '<h2 id="x" class="y" style="color:red" title="t" lang="en" data-x="1">h</h2>\n\n'
        '<a href="https://e.example" title="t" target="_blank" id="i" download>x</a>\n'
        '<img src="a.png" alt="a" title="t" width="10" height="20" class="c" srcset="b.png 2x" loading="eager">\n'
        '<ol start="3" type="a" reversed><li>x</li></ol>\n\n'
        "```python\ncode\n```\n"
    )
    assert page.all("h2") == [{}]
    assert page.all("a") == [{"href": "https://e.example", "title": "t", "rel": REL}]
    assert page.all("img") == [{"src": OWN + "a.png", "alt": "a", "title": "t", "width": "10", "height": "20"}]
    assert page.all("ol") == [{"start": "3"}]
    assert page.all("code") == [{}]


def test_links_never_pass_a_referrer_or_an_opener():
    page = parsed('[a](https://a.example) <a href="https://b.example" rel="opener">b</a> [c](#c)')
    assert [attrs["rel"] for attrs in page.all("a")] == [REL, REL, REL]


def test_normal_markdown_renders_like_github():
    page = parsed(
        "# Title\n\nSome *em* and **strong** and ~~gone~~.\n\n"
        "| left | right |\n| :--- | ----: |\n| 1 | 2 |\n\n"
        "```js\nif (a < b) { alert('<script>') }\n```\n"
    )
    names = [name for name, _ in page.elements]
    assert names[:4] == ["h1", "p", "em", "strong"]
    assert {"s", "table", "thead", "tbody", "pre", "code"} <= set(names)
    assert [attrs.get("align") for attrs in page.all("th") + page.all("td")] == ["left", "right", "left", "right"]
    assert "if (a < b) { alert('<script>') }" in page.text


def test_only_known_alignments_are_kept():
    assert parsed('<table><tr><td align="javascript:x">a</td><td align="center">b</td></tr></table>').all("td") == [
        {}, {"align": "center"}
    ]


def test_relative_images_and_links_resolve_under_the_package_files():
    page = parsed("![a](images/a.png) ![b](/images/b.png) ![c](images/../c.png) [guide](docs/guide.md?x=1#part)")
    assert [attrs["src"] for attrs in page.all("img")] == [OWN + "images/a.png", OWN + "images/b.png", OWN + "c.png"]
    assert page.all("a")[0]["href"] == OWN + "docs/guide.md?x=1#part"


@pytest.mark.parametrize(
    "markdown",
    [
        *(f"![alt text]({reference}) [link text]({reference})" for reference in (
            "../../etc/passwd", "images/../../../x.png", "%2e%2e/%2e%2e/x.png", "images/%2E%2E/.%2e/x.png",
            "/..//x.png",
        )),
        "<img src='../../etc/passwd' alt='alt text'> <a href='../x'>link text</a>",
        "<img src='..\\..\\x.png' alt='alt text'> <a href='/%2e%2e/x'>link text</a>",
    ],
)
def test_relative_urls_that_escape_the_package_files_are_refused(markdown):
    page = parsed(markdown)
    assert page.all("img") == []
    assert page.all("a") == []
    assert "alt text" in page.text
    assert "link text" in page.text


def test_backslashes_count_as_slashes_as_in_browsers():
    page = parsed("<img src='/\\cdn.example/x.png' alt='a'> <a href='\\\\evil.example/x'>b</a>")
    assert page.all("img") == []
    assert [attrs["href"] for attrs in page.all("a")] == ["https://cdn.example/x.png", "https://evil.example/x"]
    assert page.text.split() == ["image:", "a", "b"]


def test_raw_html_images_follow_the_same_rules_as_markdown_images():
    page = parsed('<p><img src="images/a.png" alt="a"> <img src="../../etc/passwd" alt="refused"></p>')
    assert page.all("img") == [{"src": OWN + "images/a.png", "alt": "a"}]
    assert "refused" in page.text


def test_an_absolute_url_under_the_package_files_is_our_own_image():
    assert parsed(f"![a]({OWN}a.png)").all("img") == [{"src": OWN + "a.png", "alt": "a"}]


@pytest.mark.parametrize(
    ("repository", "expected"),
    [
        ("https://github.com/o/r", "https://github.com/o/r/blob/HEAD/docs/x.md"),
        ("https://github.com/o/r.git", "https://github.com/o/r/blob/HEAD/docs/x.md"),
        ("git+https://github.com/o/r.git", "https://github.com/o/r/blob/HEAD/docs/x.md"),
        ("https://gitlab.com/o/r/", "https://gitlab.com/o/r/-/blob/HEAD/docs/x.md"),
    ],
)
def test_relative_links_go_to_the_repository_when_the_package_files_are_not_served(repository, expected):
    page = parsed("[guide](docs/x.md) ![shot](docs/shot.png)", LinkPolicy(None, repository))
    assert page.all("a") == [{"href": expected, "rel": REL}]
    assert page.all("img") == []
    assert "shot" in page.text


@pytest.mark.parametrize(
    "repository",
    [None, "", "not a url", "https://evil.example/o/r", "http://github.com/o/r", "https://github.com/o",
     "https://github.com/../r", "javascript:alert(1)//github.com/o/r", "https://github.com/o/r/../../x"],
)
def test_relative_links_without_a_usable_repository_lose_the_link_but_keep_the_text(repository):
    page = parsed("[guide](docs/x.md) and <a href='docs/y.md'>raw</a>", LinkPolicy(None, repository))
    assert page.all("a") == []
    assert page.text.strip() == "guide and raw"


def test_relative_links_cannot_climb_out_of_the_repository():
    assert parsed("[up](../../other/repo)", UNSERVED).all("a") == []


def test_fragment_links_point_at_the_readmes_own_prefixed_headings():
    for policy in (SERVED, BARE):
        assert parsed("[see](#usage)", policy).all("a") == [{"href": "#user-content-usage", "rel": REL}]
    html = str(render_markdown("# Usage\n\n## Usage\n\n[see](#usage)", BARE))
    assert '<h1 id="user-content-usage">' in html and '<h2 id="user-content-usage-1">' in html


def test_a_readme_cannot_name_or_clobber_an_element_of_the_page():
    html = str(render_markdown('<h2 id="install">x</h2>\n\n<a id="results" name="results">y</a>\n\n'
                               '<div id="q">z</div>', BARE))
    assert "install" not in html and "results" not in html and 'id="q"' not in html


def test_link_schemes_are_limited_to_web_and_mail():
    page = parsed("[w](https://e.example) [h](http://e.example) [m](mailto:me@e.example) "
                  "<a href='ftp://e.example'>f</a> <a href='tel:123'>t</a> <a href='//cdn.example/p'>p</a>")
    assert [attrs["href"] for attrs in page.all("a")] == [
        "https://e.example", "http://e.example", "mailto:me@e.example", "https://cdn.example/p",
    ]
    assert "f" in page.text
    assert "t" in page.text


@pytest.mark.parametrize(
    "markdown",
    ["![logo](https://cdn.example/logo.png)", '<img src="https://cdn.example/logo.png" alt="logo">'],
)
def test_third_party_images_become_a_deliberate_link_without_consent(markdown):
    page = parsed(markdown)
    assert page.all("img") == []
    assert page.all("a") == [{"href": "https://cdn.example/logo.png", "rel": REL}]
    assert page.text.strip() == "image: logo"


def test_a_blocked_image_without_alt_text_is_named_by_its_host():
    page = parsed("![](https://cdn.example/logo.png) <img src='//other.example/x.png'>")
    assert [attrs["href"] for attrs in page.all("a")] == ["https://cdn.example/logo.png", "https://other.example/x.png"]
    assert page.text.split() == ["image:", "cdn.example", "image:", "other.example"]


def test_a_blocked_image_inside_a_link_leaves_just_the_outer_link():
    page = parsed("[![build](https://shields.example/b.svg)](https://github.com/o/r/actions)")
    assert page.all("a") == [{"href": "https://github.com/o/r/actions", "rel": REL}]
    assert page.text.strip() == "image: build"


def test_third_party_https_images_load_with_consent():
    page = parsed("![logo](https://cdn.example/logo.png) <img src='//cdn.example/x.png' alt='x'>", CONSENTED)
    assert page.all("img") == [{"src": "https://cdn.example/logo.png", "alt": "logo"},
                               {"src": "https://cdn.example/x.png", "alt": "x"}]


@pytest.mark.parametrize("policy", [SERVED, CONSENTED])
def test_plain_http_images_are_dropped_keeping_their_alt_text(policy):
    page = parsed('![shot](http://cdn.example/a.png) <img src="http://cdn.example/b.png" alt="raw">', policy)
    assert page.elements == [("p", {})]
    assert page.text.split() == ["shot", "raw"]


def test_relative_images_become_their_alt_text_when_the_package_files_are_not_served():
    page = parsed("![screenshot](images/a.png)", UNSERVED)
    assert page.all("img") == []
    assert page.text.strip() == "screenshot"


def test_long_input_is_cut_with_a_visible_note(monkeypatch):
    assert MAX_MARKDOWN_CHARS >= 50_000
    monkeypatch.setattr(content, "MAX_MARKDOWN_CHARS", 20)
    assert parsed("x" * 20).text.strip() == "x" * 20
    cut = parsed("x" * 20 + "TAIL")
    assert "TAIL" not in cut.text
    assert cut.text.split() == ["x" * 20, "(truncated)"]


@pytest.mark.parametrize("markdown", [">" * 10_000 + " deep", "[" * 10_000, "- " * 10_000 + "x", "*" * 10_000 + "a"])
def test_deep_nesting_is_bounded(markdown):
    page = parsed(markdown)
    assert len(page.all("blockquote")) <= 20
    assert len(page.all("li")) <= 20


def test_text_fragments_are_joined_by_the_linear_rule():
    # markdown-it's own fragments_join is quadratic on runs of unmatched emphasis (``./dev bench --only website``
    # times both on the same input); the equality of their output is the property test below
    rules = {rule.name: rule.fn for rule in content._MARKDOWN.inline.ruler2.__rules__}
    assert rules["fragments_join"] is content._join_text


@settings(max_examples=300, deadline=None)
@given(st.text(alphabet="*_~a `[]()!\n\\<>", max_size=80))
def test_text_merging_matches_markdown_it(markdown):
    stock = MarkdownIt("commonmark", {"html": True, "linkify": False}).enable(["table", "strikethrough"])
    assert content._MARKDOWN.render(markdown) == stock.render(markdown)
