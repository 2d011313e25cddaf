"""A synthetic catalog shaped like a public extension marketplace, for the gallery-query benchmark.

Extensions are built from a programming vocabulary (languages, frameworks, tools, kinds of extension);
names, display names, tags and descriptions combine those words the way real extensions do ("Python
Linter", "React Snippets", "Docker Explorer"), with a long tail of project words. Categories come from VS
Code's list. Installs follow a Zipf law (a few extensions with millions, most with a handful); about a third
have ratings; some ship per-platform builds, some have pre-releases, a few are deprecated, featured or
verified. Seeded: the same catalog every run.

Past 50,000 extensions the vocabulary grows the way a real one does (Heaps' law, not in step with the
catalog): the long tail of project words grows as count^0.6, and generic names ("python-linter",
"Python Linter") become rarer, so at 500,000 the commonest name is shared by 729 extensions (388 at
50,000) instead of about 3,900. Up to 50,000 the catalog is exactly what it was (the gallery-query
benchmark's numbers stay comparable).
"""

from __future__ import annotations

import random
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from itertools import accumulate

from marketplace.catalog.model import ExtensionView, VersionView


def _words(text: str) -> list[str]:
    return text.split()


LANGUAGES = _words(
    "python javascript typescript java go rust c c++ c# ruby php kotlin swift scala haskell elixir erlang clojure "
    "lua perl r julia dart zig nim ocaml f# fortran cobol sql graphql yaml json toml markdown html css sass less "
    "xml bash powershell groovy solidity verilog vhdl assembly prolog lisp racket scheme elm purescript crystal "
    "vala d pascal delphi matlab octave latex restructuredtext asciidoc protobuf thrift terraform hcl nix dhall "
    "jsonnet cuda opencl glsl hlsl wgsl arduino"
)
FRAMEWORKS = _words(
    "react vue angular svelte django flask fastapi rails spring laravel symfony express nextjs nuxt tailwind "
    "bootstrap jquery flutter dotnet unity unreal godot electron tauri ionic redux graphql apollo prisma "
    "sequelize mongoose pandas numpy pytorch tensorflow keras jupyter spark hadoop kafka airflow dbt streamlit "
    "gatsby astro remix solid qwik ember backbone phoenix gin echo actix rocket axum blazor xamarin maui"
)
TOOLS = _words(
    "docker kubernetes helm terraform ansible vagrant git github gitlab bitbucket eslint prettier stylelint "
    "jest mocha vitest cypress playwright pytest unittest webpack vite rollup esbuild babel npm yarn pnpm cmake "
    "make gradle maven bazel sbt cargo pip poetry conda virtualenv redis postgres mysql sqlite mongodb "
    "elasticsearch aws azure gcp firebase supabase vercel netlify heroku nginx apache jenkins circleci travis "
    "sonarqube codecov copilot openai ollama"
)
KINDS = _words(
    "linter formatter debugger snippets theme icons syntax highlighting intellisense language support server "
    "tools helper runner preview viewer explorer test testing completion autocomplete refactoring navigation "
    "outline profiler coverage documentation generator converter validator inspector manager launcher "
    "integration client extension pack keymap bookmarks comments todo spellchecker translator assistant chat"
)
GENERAL = _words(
    "fast simple lightweight powerful modern minimal beautiful dark light colorful pastel retro neon high "
    "contrast accessible productivity workflow automation quick easy smart advanced rich interactive live "
    "remote local cloud offline secure portable configurable customizable open source free official "
    "community unofficial experimental stable legacy enhanced improved better ultimate complete essential"
)
CATEGORIES = (
    "Programming Languages", "Snippets", "Linters", "Themes", "Debuggers", "Formatters", "Keymaps",
    "SCM Providers", "Other", "Extension Packs", "Language Packs", "Data Science", "Machine Learning",
    "Visualization", "Notebooks", "Education", "Testing", "AI", "Chat",
)
PLATFORMS = ("win32-x64", "win32-arm64", "linux-x64", "linux-arm64", "linux-armhf", "alpine-x64", "darwin-x64",
             "darwin-arm64")
_SYLLABLES = _words("ka lo mi ne ru so ta vi xe zo ba de fi gu ho ja ki lu ma no pe qi ra si tu ve wo ya ze")
_START = datetime(2016, 1, 1, tzinfo=UTC)
_ASSETS = ("Microsoft.VisualStudio.Code.Manifest", "Microsoft.VisualStudio.Services.Content.Changelog",
           "Microsoft.VisualStudio.Services.Content.Details", "Microsoft.VisualStudio.Services.Content.License",
           "Microsoft.VisualStudio.Services.Icons.Default", "Microsoft.VisualStudio.Services.VSIXPackage",
           "Microsoft.VisualStudio.Services.VsixManifest")


def _project_word(rng: random.Random) -> str:
    return "".join(rng.choice(_SYLLABLES) for _ in range(rng.randint(2, 4)))


_WEIGHTS: dict[int, list[float]] = {}


def _zipf_pick(rng: random.Random, words: list[str], exponent: float = 0.9) -> str:
    """A word of ``words``: the k-th about k^-0.9 as often as the first (Zipf's law)."""
    weights = _WEIGHTS.get(len(words))
    if weights is None:
        weights = _WEIGHTS[len(words)] = list(accumulate(1 / (k + 1) ** exponent for k in range(len(words))))
    return rng.choices(words, cum_weights=weights)[0]


BASE_SIZE = 50_000  # up to this size the catalog's vocabulary does not grow (see the module's docstring)


def build(count: int, seed: int = 7) -> list[ExtensionView]:
    return list(generate(count, seed))


def generate(count: int, seed: int = 7) -> Iterator[ExtensionView]:
    """The extensions of ``build``, one at a time (500,000 views at once would take gigabytes)."""
    rng = random.Random(seed)
    subjects = LANGUAGES + FRAMEWORKS + TOOLS
    growth = max(1.0, count / BASE_SIZE)
    project_words = [_project_word(rng) for _ in range(int(4000 * growth ** 0.6))]
    named = 0.4 + 0.6 * (1 - growth ** -0.75)  # share of names with a project word: 0.4 up to 50,000, 0.89 at 500,000
    titled = 0.2 + 0.8 * (1 - growth ** -0.75)  # share of display names with one: 0.2 up to 50,000, 0.86 at 500,000
    publishers = sorted({_project_word(rng) + rng.choice(("", "-dev", "soft", "labs", "-io", "hq", ""))
                         for _ in range(max(10, count // 8))})
    ranks = list(range(1, count + 1))
    rng.shuffle(ranks)
    used: set[str] = set()
    for index in range(count):
        subject = _zipf_pick(rng, subjects, 0.7)
        kind = _zipf_pick(rng, KINDS)
        publisher = rng.choice(publishers)
        name = f"{subject.replace('+', 'p').replace('#', 'sharp')}-{kind}"
        if rng.random() < named:
            name = f"{_project_word(rng)}-{name}"
        base = name
        suffix = 2
        while f"{publisher}.{name}" in used:
            name = f"{base}{suffix}"
            suffix += 1
        used.add(f"{publisher}.{name}")
        display = f"{subject.title() if len(subject) > 2 else subject.upper()} {kind.title()}"
        if rng.random() < 0.3:
            display = f"{rng.choice(GENERAL).title()} {display}"
        if rng.random() < titled:
            display = f"{_project_word(rng).title()} - {display}"
        other = _zipf_pick(rng, subjects, 0.7) if rng.random() < 0.5 else rng.choice(subjects)
        feature = _zipf_pick(rng, KINDS)
        description = (f"{rng.choice(GENERAL).title()} {kind} for {subject} with {feature} and {other} support. "
                       + " ".join(rng.choice((rng.choice(GENERAL), rng.choice(KINDS), _zipf_pick(rng, project_words)))
                                  for _ in range(rng.randint(3, 18))))
        tags = list(dict.fromkeys([subject, kind, other] + [rng.choice(KINDS + GENERAL)
                                                            for _ in range(rng.randint(0, 3))]))
        categories = [rng.choice(CATEGORIES)] + ([rng.choice(CATEGORIES)] if rng.random() < 0.3 else [])
        categories = list(dict.fromkeys(categories))
        installs = int(50_000_000 / ranks[index] ** 1.1 * rng.uniform(0.5, 1.5))
        rating_count = int(installs ** 0.5 * rng.uniform(0, 0.3)) if rng.random() < 0.35 else 0
        created = _START + timedelta(days=rng.uniform(0, 3000))
        updated = created + timedelta(days=rng.uniform(0, 600))
        web = rng.random() < 0.03
        targets = list(rng.sample(PLATFORMS, rng.randint(3, 6))) if rng.random() < 0.08 else ["universal"]
        pre_release_only = rng.random() < 0.02
        has_pre_release = pre_release_only or rng.random() < 0.1
        major, minor = rng.randint(0, 5), rng.randint(0, 30)
        versions: list[VersionView] = []
        for target in targets:
            for preview in ((True,) if pre_release_only else (False, True) if has_pre_release else (False,)):
                number = f"{major}.{minor + (1 if preview else 0)}.{rng.randint(0, 9)}"
                versions.append(VersionView(
                    version=number, target_platform=target, pre_release=preview,
                    published_at=updated - timedelta(hours=0 if preview else 30), engine="^1.80.0",
                    asset_base=f"assets/{publisher}/{name}/{number}/{target}/{rng.getrandbits(64):016x}",
                    assets=_ASSETS, display_name=display, description=description, categories=tuple(categories),
                    tags=tuple(tags), web_extension=web, license="MIT",
                    repository=f"https://github.com/{publisher}/{name}", sha256=f"{rng.getrandbits(256):064x}",
                    size=rng.randint(20_000, 40_000_000), published_by=f"{publisher}-owner",
                ))
        release = [v.version for v in versions if not v.pre_release]
        pre = [v.version for v in versions if v.pre_release]
        view = ExtensionView(
            extension_id=f"{publisher}.{name}".lower(), publisher=publisher, name=name, display_name=display,
            description=description, categories=tuple(categories), tags=tuple(tags),
            latest_version=release[0] if release else None, latest_prerelease=pre[0] if pre else None,
            created_at=created, updated_at=updated, versions=(), deprecated=rng.random() < 0.01,
            featured=rng.random() < 0.002, verified=rng.random() < 0.1, downloads=int(installs * 1.3),
            installs=installs, updates=installs // 3,
            average_rating=round(rng.uniform(2.5, 5.0), 2) if rating_count else None, rating_count=rating_count,
        )
        yield view.with_versions(versions, all_versions=False)


def text_queries(views: list[ExtensionView], count: int, seed: int = 11) -> list[str]:
    """What people type: a language or a tool, its first letters, two words, a popular extension's id or
    display name, a publisher, a rare word."""
    rng = random.Random(seed)
    popular = sorted(views, key=lambda v: -v.installs)[:200]
    subjects = LANGUAGES + FRAMEWORKS + TOOLS
    makers = [
        lambda: _zipf_pick(rng, subjects),
        lambda: _zipf_pick(rng, subjects)[:rng.randint(2, 4)],
        lambda: f"{_zipf_pick(rng, subjects)} {_zipf_pick(rng, KINDS)}",
        lambda: f"{rng.choice(GENERAL)} {rng.choice(('theme', 'icons', 'snippets'))}",
        lambda: rng.choice(popular).extension_id,
        lambda: rng.choice(popular).display_name or "",
        lambda: rng.choice(popular).publisher,
        lambda: _zipf_pick(rng, KINDS),
        lambda: rng.choice(views).name.split("-")[0],
    ]
    return [rng.choice(makers)() for _ in range(count)]
