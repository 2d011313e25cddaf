"""Secret scanning: every text file of a package is searched for credentials that must not be published.

The rules are our own table (``RULES``) rather than the ``detect-secrets`` library: importing its plugins
costs about a quarter of a second and pulls in ``requests`` (for its verification calls) and ``PyYAML``, which
a Lambda layer should not carry for a dozen regular expressions. Its entropy and keyword plugins would not
be used anyway: they are noisy on minified code. The table follows the same public token formats.

How a file is searched: entries whose first 8 KiB hold a NUL byte (binaries) and images and fonts (by
extension) are skipped; of the others, at most ``MAX_SCAN_BYTES`` are read, streamed from the package (a
larger file gets a ``secret.unscanned`` warning). Every rule starts with a literal anchor (``AKIA``,
``ghp_``, ``-----BEGIN`` ...): the anchors are searched with ``bytes.find`` (fast, in C) and a rule's
regular expression runs only where its anchor occurs, so a file without anchors costs a few memory scans.
No pattern crosses a line end, so this is the same as matching line by line; the line number is counted
at each match.

Allow-list (``is_placeholder``): a value is not reported when it is one of AWS's documented example values
(``AKIAIOSFODNN7EXAMPLE``, ``wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY``), when it contains a placeholder
word (``example``, ``dummy``, ``fake``, ``sample``, ``placeholder``, ``test``, ``xxxx``, in any case), or
when its part after the rule's fixed prefix is one character repeated. JWTs are reported only when they
decode to a JSON header and a JSON payload with ``exp`` or ``iss`` (a real, issued token).

A finding names the rule (``secret.<kind>``), the file, the line and at most the first 4 characters of the
value followed by "…", never more.
"""

from __future__ import annotations

import base64
import binascii
import json
import re
from collections.abc import Callable
from dataclasses import dataclass

from marketplace.publishing import vsix
from marketplace.publishing.scanning import REJECT, WARN, Finding, Subject, iter_entry

MAX_SCAN_BYTES = 2 * vsix.MiB  # of one file; the rest is not searched (and a warning says so)
SNIFF_BYTES = 8 * vsix.KiB  # a NUL byte in this much of a file's start marks it as binary
MAX_FINDINGS = 50  # per package; a package with more is refused for the first ones anyway
_CHUNK = 256 * vsix.KiB  # compressed bytes read at a time (a binary is recognised after its first chunk)
AWS_SECRET_DISTANCE = 1024  # bytes around an AWS access key id searched for its 40-character secret key

SKIPPED_EXTENSIONS = frozenset({
    ".png", ".jpg", ".jpeg", ".gif", ".bmp", ".ico", ".icns", ".webp", ".tif", ".tiff", ".avif", ".heic",
    ".woff", ".woff2", ".ttf", ".otf", ".eot",
})
CREDENTIAL_FILES = re.compile(r"(?:^|/)(?:\.env(?:\.[A-Za-z0-9_-]+)?|\.npmrc|\.yarnrc(?:\.yml)?|\.pypirc)$")
CREDENTIAL_FILE_TEMPLATES = re.compile(r"\.(?:example|sample|template|dist|defaults?)$", re.IGNORECASE)

AWS_EXAMPLE_VALUES = frozenset({b"AKIAIOSFODNN7EXAMPLE", b"wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY"})
PLACEHOLDER_WORDS = re.compile(rb"example|dummy|fake|sample|placeholder|test|xxxx|your[_-]?", re.IGNORECASE)

_B64 = rb"A-Za-z0-9+/"
_AWS_SECRET = re.compile(rb"(?<![" + _B64 + rb"])([" + _B64 + rb"]{40})(?![" + _B64 + rb"=])")
_BASE64_RUN = re.compile(rb"[A-Za-z0-9+/=]{40,}")


@dataclass(frozen=True)
class Rule:
    kind: str  # the finding's rule is ``secret.<kind>``
    what: str  # the finding's message: "a GitHub token"
    anchors: tuple[bytes, ...]  # literal strings every match holds, ``back`` characters after its start
    pattern: re.Pattern[bytes]  # matched at an anchor; group "value" is the secret (else the whole match)
    prefix: int = 0  # fixed characters at the value's start, ignored by the "one repeated character" check
    back: int = 0  # where the anchor sits in a match (fewer, longer anchors make fewer passes over a file)
    check: Callable[[bytes, re.Match[bytes]], bool] | None = None  # a further test of a match

    @property
    def rule(self) -> str:
        return f"secret.{self.kind}"


def _aws_secret_nearby(data: bytes, match: re.Match[bytes]) -> bool:
    """An access key id is only a leak with its secret key: a 40-character base64 value near it, of mixed
    case and with a digit (a SHA-1 in hex, also 40 characters, is not one)."""
    start = max(0, match.start() - AWS_SECRET_DISTANCE)
    for found in _AWS_SECRET.finditer(data, start, match.end() + AWS_SECRET_DISTANCE):
        value = found.group(1)
        if (value.lower() != value and value.upper() != value and any(c in b"0123456789" for c in value)
                and not is_placeholder(value)):
            return True
    return False


def _private_key_body(data: bytes, match: re.Match[bytes]) -> bool:
    """A header alone (in a parser, a regex, documentation) is not a key: base64 must follow it closely."""
    body = _BASE64_RUN.search(data, match.end(), match.end() + 400)
    return body is not None and not is_placeholder(body.group(0))


def _b64json(part: bytes) -> object:
    try:
        return json.loads(base64.urlsafe_b64decode(part + b"=" * (-len(part) % 4)))
    except (binascii.Error, ValueError):
        return None


def _issued_jwt(data: bytes, match: re.Match[bytes]) -> bool:
    header, payload = match.group("header"), match.group("payload")
    claims = _b64json(payload)
    return isinstance(_b64json(header), dict) and isinstance(claims, dict) and ("exp" in claims or "iss" in claims)


def _rule(kind: str, what: str, anchors: tuple[str, ...], pattern: str, prefix: int = 0,
          check: Callable[[bytes, re.Match[bytes]], bool] | None = None, back: int = 0) -> Rule:
    return Rule(kind, what, tuple(a.encode() for a in anchors), re.compile(pattern.encode()), prefix, back, check)


_WORD = r"(?<![A-Za-z0-9_])"  # the anchor starts a token
RULES: tuple[Rule, ...] = (
    _rule("private-key", "a private key", ("-----BEGIN ",),
          r"-----BEGIN (?P<value>(?:(?:RSA|DSA|EC|OPENSSH|ENCRYPTED|SSH2 ENCRYPTED) )?PRIVATE KEY(?: BLOCK)?"
          r"|PGP PRIVATE KEY BLOCK)-----", check=_private_key_body),
    _rule("aws-access-key", "an AWS access key id with its secret access key", ("AKIA", "ASIA"),
          _WORD + r"(?P<value>A[KS]IA[0-9A-Z]{16})(?![0-9A-Za-z])", prefix=4, check=_aws_secret_nearby),
    _rule("github-token", "a GitHub token", ("ghp_", "gho_", "ghu_", "ghs_", "ghr_"),
          _WORD + r"(?P<value>gh[pousr]_[A-Za-z0-9]{36,251})(?![A-Za-z0-9_])", prefix=4),
    _rule("github-token", "a GitHub fine-grained token", ("github_pat_",),
          _WORD + r"(?P<value>github_pat_[A-Za-z0-9_]{60,255})(?![A-Za-z0-9_])", prefix=11),
    _rule("gitlab-token", "a GitLab personal access token", ("glpat-",),
          _WORD + r"(?P<value>glpat-[A-Za-z0-9_-]{20,60})(?![A-Za-z0-9_-])", prefix=6),
    _rule("npm-token", "an npm access token", ("npm_",),
          _WORD + r"(?P<value>npm_[A-Za-z0-9]{36})(?![A-Za-z0-9_])", prefix=4),
    _rule("pypi-token", "a PyPI API token", ("pypi-AgE",),
          _WORD + r"(?P<value>pypi-AgE(?:IcHlwaS5vcmc|NdGVzdC5weXBpLm9yZw)[A-Za-z0-9_-]{50,})", prefix=24),
    _rule("slack-token", "a Slack token", ("xox",),
          _WORD + r"(?P<value>xox[baprs]-[0-9]{6,}-[0-9A-Za-z-]{8,})", prefix=5),
    _rule("stripe-key", "a Stripe live secret key", ("k_live_",),
          _WORD + r"(?P<value>[sr]k_live_[0-9A-Za-z]{20,247})(?![0-9A-Za-z])", prefix=8, back=1),
    _rule("google-api-key", "a Google API key", ("AIza",),
          _WORD + r"(?P<value>AIza[0-9A-Za-z_-]{35})(?![0-9A-Za-z_-])", prefix=4),
    _rule("azure-storage-key", "an Azure storage account key", ("AccountKey=",),
          r"AccountKey=(?P<value>[A-Za-z0-9+/]{86}==)"),
    _rule("jwt", "a signed JSON Web Token with an issuer or expiry", ("eyJ",),
          _WORD + r"(?P<value>(?P<header>eyJ[A-Za-z0-9_-]{8,})\.(?P<payload>eyJ[A-Za-z0-9_-]{8,})\."
                  r"[A-Za-z0-9_-]{16,})", check=_issued_jwt),
)
CREDENTIAL_RULE = "secret.credentials-file"
_CREDENTIAL_LINE = re.compile(
    rb"^[ \t]*(?:export[ \t]+)?(?P<key>[^\s=#]*?(?:_authToken|_auth|_password|password|passwd))[ \t]*[=:][ \t]*"
    rb"(?P<value>[^\r\n]*?)[ \t]*$", re.IGNORECASE | re.MULTILINE)
_REFERENCE = re.compile(rb"^[\"']?(?:\$|%|<|\{\{)")  # ${NPM_TOKEN}, $PASSWORD, %PASS%, <your-token>, {{ x }}


def is_placeholder(value: bytes, prefix: int = 0) -> bool:
    """A documented example or an obvious placeholder (see the module's allow-list)."""
    if value in AWS_EXAMPLE_VALUES or PLACEHOLDER_WORDS.search(value):
        return True
    rest = value[prefix:]
    return len(set(rest.replace(b"-", b"").replace(b"_", b""))) <= 1


def shown(value: bytes) -> str:
    """What a message may show of a secret: its first 4 characters, then an ellipsis."""
    return value[:4].decode("ascii", "replace") + "…"


class SecretScanner:
    name = "secrets"

    def scan(self, subject: Subject) -> list[Finding]:
        findings: list[Finding] = []
        for entry in subject.archive.files:
            if len(findings) >= MAX_FINDINGS:
                break
            if entry.size == 0 or _skipped_by_name(entry.name):
                continue
            chunks = iter_entry(subject.archive, entry, MAX_SCAN_BYTES, _CHUNK)
            first = next(chunks, b"")
            if b"\0" in first[:SNIFF_BYTES]:  # a binary: read no further
                continue
            data = b"".join([first, *chunks])
            findings.extend(scan_text(entry.name, data))
            if entry.size > MAX_SCAN_BYTES:
                findings.append(Finding(
                    "secret.unscanned", f"the file is larger than {MAX_SCAN_BYTES // vsix.MiB} MiB; only its first "
                                        f"{MAX_SCAN_BYTES // vsix.MiB} MiB were searched for secrets",
                    entry.name, None, WARN))
        return findings[:MAX_FINDINGS]


def _skipped_by_name(name: str) -> bool:
    base = name.rsplit("/", 1)[-1].lower()
    dot = base.rfind(".")
    return dot > 0 and base[dot:] in SKIPPED_EXTENSIONS


def scan_text(name: str, data: bytes) -> list[Finding]:
    """The findings in one file's (leading) bytes, in line order; at most one per line."""
    hits: dict[int, tuple[int, Rule | None, bytes]] = {}  # position of the line start -> (position, rule, value)
    for rule in RULES:
        for anchor in rule.anchors:
            at = data.find(anchor, rule.back)
            while at >= 0:
                at -= rule.back
                match = rule.pattern.match(data, at)
                if match is not None:
                    value = match.group("value")
                    if not is_placeholder(value, rule.prefix) and (rule.check is None or rule.check(data, match)):
                        line_start = data.rfind(b"\n", 0, at) + 1
                        if line_start not in hits or at < hits[line_start][0]:  # the line's first secret
                            hits[line_start] = (at, rule, value)
                    at = data.find(anchor, match.end())
                else:
                    at = data.find(anchor, at + rule.back + 1)
    if CREDENTIAL_FILES.search(name) and not CREDENTIAL_FILE_TEMPLATES.search(name):
        for match in _CREDENTIAL_LINE.finditer(data):
            value = match.group("value").strip(b"\"'")
            if value and not _REFERENCE.match(value) and not is_placeholder(value):
                hits.setdefault(match.start(), (match.start(), None, value))
    findings: list[Finding] = []
    line, counted = 1, 0
    for position, hit_rule, value in sorted(hits.values(), key=lambda hit: hit[0]):
        line += data.count(b"\n", counted, position)
        counted = position
        if hit_rule is None:
            findings.append(Finding(CREDENTIAL_RULE, f"a password or registry token ({shown(value)}) in a "
                                                     f"credentials file", name, line, REJECT))
        else:
            label = value.decode("ascii") if hit_rule.kind == "private-key" else shown(value)  # the key's type
            findings.append(Finding(hit_rule.rule, f"{hit_rule.what} ({label})", name, line, REJECT))
    return findings
