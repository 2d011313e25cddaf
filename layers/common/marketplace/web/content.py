"""README and CHANGELOG markdown from published packages, rendered into HTML that is safe to embed in our pages.

The markdown comes from whoever published the package, so it is hostile until proven otherwise: raw HTML is
allowed in it (READMEs depend on it), and links and images point wherever the author likes. Rendering happens in
three passes, each one simple:

1. markdown-it renders the markdown (CommonMark plus GitHub's tables and strikethrough, nesting bounded);
2. nh3 (the Ammonia allow-list sanitizer, with a browser-grade HTML parser) keeps only the tags and attributes
   listed below, so what comes out is well-formed and inert;
3. a small pass over that clean HTML applies the URL policy (``LinkPolicy``) the same way to markdown and raw-HTML
   links and images: relative URLs are resolved against the package's own files (or its GitHub/GitLab repository,
   like vsce's ``baseContentUrl``), third-party images are shown only with the operator's consent and otherwise
   become a link the reader can open deliberately, and anything else is dropped;

then nh3 runs once more with the policy as its ``attribute_filter``, the final guard that also adds ``rel`` to links.
"""

import re
from dataclasses import dataclass
from html import escape
from html.parser import HTMLParser
from urllib.parse import unquote, urljoin, urlsplit

import nh3
from markdown_it import MarkdownIt
from markdown_it.rules_inline import StateInline
from markdown_it.token import Token
from markupsafe import Markup

MAX_MARKDOWN_CHARS = 100_000
"""Longer input is cut here. Hostile input this long still takes seconds: markdown-it needs some 40 µs a
character for a run of ``![``, and nh3's parser is quadratic in the depth of nested ``<ul><li>`` or ``<div>``."""

_TAGS = {
    *("h1", "h2", "h3", "h4", "h5", "h6", "p", "br", "hr", "a", "img", "ul", "ol", "li", "blockquote", "pre"),
    *("code", "em", "strong", "del", "s", "kbd", "sup", "sub", "table", "thead", "tbody", "tr", "th", "td"),
    *("details", "summary", "div", "span"),
}
_ATTRIBUTES = {
    "*": set[str](),  # without this key nh3 keeps Ammonia's default generic attributes (lang, title)
    "a": {"href", "title"},
    "img": {"src", "alt", "title", "width", "height"},
    "th": {"align"},
    "td": {"align"},
    "ol": {"start"},
    **{heading: {"id"} for heading in ("h1", "h2", "h3", "h4", "h5", "h6")},
}
ANCHOR_PREFIX = "user-content-"
"""What a README's heading ids and in-page links are prefixed with (as GitHub does): a README can link to its own
sections, but never name or clobber an element of the page around it (``#install``, ``#results``)."""
_ANCHOR = re.compile(rf"{ANCHOR_PREFIX}[a-z0-9_-]+", re.ASCII)
_NOT_IN_SLUG = re.compile(r"[^\w\- ]", re.UNICODE)
_DROP_WITH_CONTENT = {
    *("script", "style", "template", "noscript", "iframe", "object", "embed", "svg", "math", "select"),
    *("textarea", "title", "noembed", "noframes", "xmp"),
}
_LINK_SCHEMES = {"http", "https", "mailto"}
_ALIGN = {"left", "center", "right"}
_LINK_REL = "nofollow noopener noreferrer ugc"


def _join_text(state: StateInline) -> None:
    """markdown-it's ``fragments_join`` in linear time: it merges adjacent text tokens by pairwise string
    concatenation, quadratic on long runs of unmatched emphasis markers (100,000 characters of ``_a*`` took 8 s)."""
    level = 0
    tokens: list[Token] = []
    run: list[str] = []
    for token in state.tokens:
        level -= token.nesting < 0
        token.level = level
        level += token.nesting > 0
        if token.type == "text" and tokens and tokens[-1].type == "text":
            run.append(token.content)
            continue
        if run:
            tokens[-1].content += "".join(run)
            run = []
        tokens.append(token)
    if run:
        tokens[-1].content += "".join(run)
    state.tokens[:] = tokens


_MARKDOWN = MarkdownIt("commonmark", {"html": True, "linkify": False, "maxNesting": 20}).enable(
    ["table", "strikethrough"]
)
_MARKDOWN.inline.ruler2.at("fragments_join", _join_text)
_REPOSITORY = re.compile(
    r"(?:git\+)?https://(?P<host>github\.com|gitlab\.com)/(?P<owner>[\w.-]+)/(?P<name>[\w.-]+?)(?:\.git)?/?", re.ASCII
)
_IGNORED_IN_URLS = re.compile(r"[\t\n\r]")
_C0_AND_SPACE = "".join(map(chr, range(0x21)))


@dataclass(frozen=True)
class LinkPolicy:
    """Where a README's relative URLs point, and whether third-party images may load."""

    package_files: str | None
    """Absolute URL prefix, ending in "/", under which the package's own files are served; None when they are not."""
    repository: str | None
    """The package's repository URL as its package.json states it: may be missing or junk."""
    remote_images: bool = False
    """The operator consented to loading third-party (https) images."""


def render_markdown(text: str, policy: LinkPolicy) -> Markup:
    """The README or CHANGELOG ``text`` as sanitized HTML."""
    truncated = len(text) > MAX_MARKDOWN_CHARS
    tokens = _MARKDOWN.parse(text[:MAX_MARKDOWN_CHARS])
    slugs: dict[str, int] = {}
    for position, token in enumerate(tokens):
        # tables align cells with style="text-align:…", which the sanitizer drops
        if token.type in ("th_open", "td_open") and isinstance(style := token.attrs.pop("style", None), str):
            token.attrs["align"] = style.removeprefix("text-align:")
        if token.type == "heading_open" and position + 1 < len(tokens):
            token.attrs["id"] = _heading_id(tokens[position + 1].content, slugs)
    html = _MARKDOWN.renderer.render(tokens, _MARKDOWN.options, {})
    html = _cleaner(policy).clean(_apply_policy(_SANITIZER.clean(html), policy))
    if truncated:
        html += "\n<p><em>(truncated)</em></p>\n"
    return Markup(html)  # noqa: S704 - sanitized above


def _heading_id(text: str, seen: dict[str, int]) -> str:
    """GitHub's anchor for a heading: lower case, punctuation dropped, spaces as hyphens, repeats numbered."""
    slug = _NOT_IN_SLUG.sub("", text.strip().lower()).replace(" ", "-")
    slug = slug.encode("ascii", "ignore").decode() or "section"
    count = seen.get(slug, 0)
    seen[slug] = count + 1
    return f"{ANCHOR_PREFIX}{slug}" + (f"-{count}" if count else "")


def _cleaner(policy: LinkPolicy | None) -> nh3.Cleaner:
    """The allow-list; with a policy, also the final word on URLs, and ``rel`` on links."""
    return nh3.Cleaner(
        tags=_TAGS,
        clean_content_tags=_DROP_WITH_CONTENT,
        attributes=_ATTRIBUTES,
        url_schemes=_LINK_SCHEMES,
        link_rel=_LINK_REL if policy else None,
        attribute_filter=(lambda tag, name, value: _allowed_value(tag, name, value, policy)) if policy else None,
    )


_SANITIZER = _cleaner(None)


def _allowed_value(tag: str, attribute: str, value: str, policy: LinkPolicy) -> str | None:
    """The final guard: nh3 emits whatever this returns without checking URL schemes again."""
    if tag == "a" and attribute == "href":
        return _link_url(value, policy)
    if tag == "img" and attribute == "src":
        return _image_urls(value, policy)[0]
    if attribute == "align":
        return value if value in _ALIGN else None
    if attribute == "id":
        return value if _ANCHOR.fullmatch(value) else None
    return value


def _apply_policy(html: str, policy: LinkPolicy) -> str:
    rewriter = _Rewriter(policy)
    rewriter.feed(html)
    rewriter.close()
    return "".join(rewriter.out)


class _Rewriter(HTMLParser):
    """Resolves links and images in nh3's well-formed output, unwraps refused links, replaces refused images."""

    def __init__(self, policy: LinkPolicy) -> None:
        super().__init__(convert_charrefs=True)
        self.policy = policy
        self.out: list[str] = []
        self.links: list[bool] = []  # for each open <a>: whether it was kept

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        values = {name: value or "" for name, value in attrs}
        if tag == "img":
            self.out.append(self._image(values))
            return
        if tag == "a":
            href = _link_url(values["href"], self.policy) if "href" in values else None
            self.links.append(href is not None)
            if href is None:
                return
            values["href"] = href
        self.out.append(_start_tag(tag, values))

    def handle_startendtag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self.handle_starttag(tag, attrs)

    def handle_endtag(self, tag: str) -> None:
        if tag != "a" or (self.links.pop() if self.links else False):
            self.out.append(f"</{tag}>")

    def handle_data(self, data: str) -> None:
        self.out.append(escape(data, quote=False))

    def _image(self, attrs: dict[str, str]) -> str:
        alt = attrs.get("alt", "")
        show, link = _image_urls(attrs.get("src", ""), self.policy)
        if show is not None:
            return _start_tag("img", {**attrs, "src": show})
        if link is None:
            return escape(alt, quote=False)
        label = escape(f"image: {alt or urlsplit(link).hostname or link}", quote=False)
        if any(self.links):  # already inside a link: a nested <a> would not survive, the outer link is the way out
            return label
        return f'<a href="{escape(link)}">{label}</a>'


def _start_tag(tag: str, attrs: dict[str, str]) -> str:
    return "<" + tag + "".join(f' {name}="{escape(value)}"' for name, value in attrs.items()) + ">"


def _link_url(href: str, policy: LinkPolicy) -> str | None:
    """Where a link may point: http(s), mailto, a fragment, or a relative URL resolved by the policy."""
    url = _normalized(href)
    if not url:
        return None
    if url.startswith("#"):
        return url if url.startswith("#" + ANCHOR_PREFIX) or url == "#" else "#" + ANCHOR_PREFIX + url[1:]
    if _is_relative(url):
        base = policy.package_files or _repository_files(policy.repository)
        return _under(base, url.removeprefix("/")) if base else None
    url = "https:" + url if url.startswith("//") else url
    return url if urlsplit(url).scheme in _LINK_SCHEMES else None


def _image_urls(src: str, policy: LinkPolicy) -> tuple[str | None, str | None]:
    """(URL to show the image from, URL to link to instead of showing it); neither: only the alt text remains."""
    url = _normalized(src)
    if not url or url.startswith("#"):
        return None, None
    if _is_relative(url):
        return (_under(policy.package_files, url.removeprefix("/")) if policy.package_files else None), None
    url = "https:" + url if url.startswith("//") else url
    if policy.package_files and (own := _under(policy.package_files, url)):
        return own, None
    if urlsplit(url).scheme != "https":
        return None, None
    return (url, None) if policy.remote_images else (None, url)


def _normalized(url: str) -> str:
    """The URL as a browser reads it: no surrounding controls or spaces, no tabs or newlines, "\\" meaning "/"."""
    return _IGNORED_IN_URLS.sub("", url).strip(_C0_AND_SPACE).replace("\\", "/")


def _is_relative(url: str) -> bool:
    return not urlsplit(url).scheme and not url.startswith(("//", "#"))


def _under(prefix: str, reference: str) -> str | None:
    """``reference`` resolved against ``prefix``, or None when the result escapes it (``..``, even percent-encoded)."""
    url = urljoin(prefix, reference)
    if not url.startswith(prefix):
        return None
    path = re.split(r"[?#]", url[len(prefix) :], maxsplit=1)[0]
    return None if any(segment in (".", "..") for segment in unquote(path).split("/")) else url


def _repository_files(repository: str | None) -> str | None:
    """Where a GitHub or GitLab repository shows its files, like vsce's ``baseContentUrl``."""
    match = _REPOSITORY.fullmatch((repository or "").strip())
    if not match or {match["owner"], match["name"]} & {".", ".."}:
        return None
    separator = "/-" if match["host"] == "gitlab.com" else ""
    return f"https://{match['host']}/{match['owner']}/{match['name']}{separator}/blob/HEAD/"
