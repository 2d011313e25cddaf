"""Scrubbing of personal data out of telemetry events: keyed hashes for ids, redaction of property values.

Ids (machine, session, user) become HMAC-SHA256 hex digests under a secret only this service knows (see
``hashkey``): the same id always gives the same pseudonym, so events still group by machine, but the raw id
cannot be recovered or confirmed by anyone without the secret. Each field is hashed in its own domain, so a
machine id and a user id with the same text do not give the same pseudonym.

Property values are redacted where they look like personal data or secrets:

- a **file path** (``/home/...`` and any absolute POSIX path of two segments or more, ``~/`` and ``~user/``,
  ``C:\\...`` or ``c:/...``, ``\\\\server\\share``, ``file:``/``vscode-remote:``/``vscode-userdata:`` URIs, and a
  home folder segment anywhere, as in ``../../home/x`` or ``..\\Users\\x``):
  everything from the path's start to the end of the value becomes ``<redacted:path>``. A path has no
  reliable end (folders and user names contain spaces), so the tail after it is never kept;
- an **e-mail address**: the address becomes ``<redacted:email>``;
- an **IP address** (IPv4; IPv6 with ``::``, a hex letter or six groups or more, which also catches MAC
  addresses; not times such as ``10:30:00``): the address becomes ``<redacted:address>``;
- a **token or secret**: JWTs, GitHub (``ghp_``, ``gho_``, ``ghu_``, ``ghs_``, ``ghr_``, ``github_pat_``),
  GitLab, Slack, npm, OpenAI-style and Google API keys, AWS access key ids (``AKIA``/``ASIA``),
  ``Bearer`` credentials, ``password=...``-style pairs, hex strings of 32 digits or more, and
  base64-like runs of 32 characters or more that mix upper case, lower case and digits with high entropy:
  the token becomes ``<redacted:secret>``.

Every pattern is linear in the value's length (runs are matched from their first character only, with
possessive quantifiers), and short values without a trigger character skip the patterns altogether.
"""

from __future__ import annotations

import hmac
import math
import re
from collections import Counter

PATH = "<redacted:path>"
EMAIL = "<redacted:email>"
SECRET = "<redacted:secret>"  # noqa: S105  # the marker, not a secret
ADDRESS = "<redacted:address>"

# Values shorter than this cannot hold a token we recognise (an AWS key id is 20 characters) ...
SHORT = 20
# ... unless they contain one of these (paths, e-mail and IPv6 addresses, ``key=value`` secrets), or three dots
# (an IPv4 address).
_TRIGGER = re.compile(r"[/\\@~=:]")

# Every branch starts with one of / \ ~ : so the engine only tries positions holding one of them (a pattern
# that may start anywhere costs several times more on long values). A match starting with ``:`` belongs to
# the drive letter or URI scheme just before it.
_PATH = re.compile(
    r"/(?<![\w.~/\\-]/)[^\s/]++/"  # /home/x, /Users/x, /tmp/x ... (not a/b, not the // of a URL)
    r"|/(?=(?:home|users|root)/)|\\(?=users\\)"  # a home folder anywhere: ../../home/x, x/Users/y, ..\Users\y
    r"|\\\\[^\s\\]++\\"  # \\server\share\x, \\?\C:\x
    r"|~(?<![\w.~/\\-]~)[\w.-]*+[/\\]"  # ~/x, ~alice/x
    r"|:(?:(?<=[A-Za-z]:)(?<![A-Za-z0-9_][A-Za-z]:)[\\/]"  # C:\x, c:/x (not the s:/ of https://)
    r"|(?<=\bfile:)|(?<=\bvscode-remote:)|(?<=\bvscode-userdata:)|(?<=\bvscode-file:))",  # URIs of local files
    re.IGNORECASE,
)
_SCHEME_CHARS = frozenset("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ-")
# Starts only where a run of address characters starts, and never backtracks: linear in the value's length.
_EMAIL = re.compile(r"(?<![A-Za-z0-9._%+-])[A-Za-z0-9._%+-]++@[A-Za-z0-9-]++(?:\.[A-Za-z0-9-]++)++")
_IPV4 = re.compile(r"(?<![\d.])(?:\d{1,3}\.){3}\d{1,3}(?![\d.])")
_IPV6 = re.compile(r"(?<![\w:])[0-9A-Fa-f]{0,4}(?::[0-9A-Fa-f]{0,4}){2,7}(?![\w:])")  # not std::vector
_HEX_LETTER = re.compile(r"[A-Fa-f]")
_PAIR = re.compile(
    r"(?:password|passwd|pwd|secret|api[_-]?key|access[_-]?token|auth[_-]?token|client[_-]?secret|authorization)"
    r"[ \t]*+[=:][ \t]*+(?:bearer[ \t]++)?[^\s,;&]++",
    re.IGNORECASE,
)
# Every token below is at least 20 characters without a space (but for ``Bearer``): values without such a run
# skip the token patterns.
_LONG_RUN = re.compile(r"[\w.+/=~-]{20}")
_TOKENS = re.compile(
    r"(?P<auth>\bbearer[ \t]++[\w.~+/=-]{8,}+)"
    r"|(?P<jwt>(?<![\w-])eyJ[\w-]{8,}+\.[\w-]{8,}+\.[\w-]*+)"
    r"|(?P<prefixed>(?<![\w-])(?:gh[pousr]_[A-Za-z0-9]{30,}+|github_pat_\w{20,}+|glpat-[\w-]{20,}+"
    r"|xox[abposr]-[\w-]{15,}+|npm_[A-Za-z0-9]{36,}+|sk-[\w-]{20,}+|AIza[\w-]{35,}+"
    r"|(?:AKIA|ASIA)[A-Z0-9]{16}(?![A-Z0-9])))"
    r"|(?P<run>(?<![A-Za-z0-9+/=_-])[A-Za-z0-9+/=_-]{32,}+)",
    re.IGNORECASE,
)
_HEX = re.compile(r"[0-9a-fA-F]+")
_DIGIT, _UPPER, _LOWER = re.compile(r"[0-9]"), re.compile(r"[A-Z]"), re.compile(r"[a-z]")
ENTROPY_BITS = 4.0  # per character; random base64 of 32+ characters has about 4.5-5, words and identifiers less


def _high_entropy(run: str) -> bool:
    """Whether a long run looks random: a hex digest or key, or base64 mixing cases and digits."""
    if _HEX.fullmatch(run):
        return len(set(run)) >= 6  # not "aaaa..." or "0000..."
    if not (_DIGIT.search(run) and _UPPER.search(run) and _LOWER.search(run)):
        return False
    length = len(run)
    entropy = -sum(n / length * math.log2(n / length) for n in Counter(run).values())
    return entropy >= ENTROPY_BITS


def _ipv4(match: re.Match[str]) -> str:
    return ADDRESS if all(int(part) <= 255 for part in match.group().split(".")) else match.group()


def _ipv6(match: re.Match[str]) -> str:
    text = match.group()
    if "::" in text or text.count(":") >= 5 or _HEX_LETTER.search(text):
        return ADDRESS
    return text  # a time of day such as 10:30:00


def _token(match: re.Match[str]) -> str:
    if match.lastgroup == "run" and not _high_entropy(match.group()):
        return match.group()
    return SECRET


def redact(value: str) -> str:
    """``value`` with paths, e-mail addresses and secrets replaced by ``<redacted:...>`` markers."""
    if len(value) < SHORT and not _TRIGGER.search(value) and value.count(".") < 3:
        return value
    tail = ""
    path = _PATH.search(value)
    if path is not None:
        cut = path.start()
        if value[cut] == ":":
            while cut > 0 and value[cut - 1] in _SCHEME_CHARS:
                cut -= 1
        value, tail = value[:cut], PATH
    if "@" in value:
        value = _EMAIL.sub(EMAIL, value)
    if value.count(".") >= 3:
        value = _IPV4.sub(_ipv4, value)
    if value.count(":") >= 2:
        value = _IPV6.sub(_ipv6, value)
    if "=" in value or ":" in value:
        value = _PAIR.sub(SECRET, value)
    if _LONG_RUN.search(value) or "earer" in value or "EARER" in value:
        value = _TOKENS.sub(_token, value)
    return value + tail


def looks_sensitive(text: str) -> bool:
    """Whether ``text`` would be redacted: names and keys that must not be stored at all."""
    return redact(text) != text


class Pseudonyms:
    """Keyed hashes of one batch's ids (and of the client's address for the rate limit).

    Two subkeys are derived from the secret, one per use, so a pseudonym of an id can never equal the rate
    limiter's key of an address. Within a batch the same id is hashed once.
    """

    __slots__ = ("_cache", "_client_key", "_id_key")

    def __init__(self, secret: bytes) -> None:
        if len(secret) < 32:
            raise ValueError("the hashing secret must be at least 32 bytes")
        self._id_key = hmac.digest(secret, b"marketplace/telemetry/ids/v1", "sha256")
        self._client_key = hmac.digest(secret, b"marketplace/telemetry/client-address/v1", "sha256")
        self._cache: dict[str, str] = {}

    def batch(self) -> Pseudonyms:
        """A fresh per-batch cache over the same keys."""
        fresh = Pseudonyms.__new__(Pseudonyms)
        fresh._id_key, fresh._client_key, fresh._cache = self._id_key, self._client_key, {}
        return fresh

    def id(self, field: str, raw: str) -> str:
        """The pseudonym of ``raw`` in the domain ``field`` (``m``achine, ``s``ession or ``u``ser)."""
        message = field + "\x00" + raw
        found = self._cache.get(message)
        if found is None:
            found = hmac.digest(self._id_key, message.encode("utf-8", "surrogatepass"), "sha256").hex()
            self._cache[message] = found
        return found

    def client(self, address: str, day: str) -> str:
        """The rate limiter's key for a client address: changes every day, never the address itself."""
        message = f"{day}\x00{address}".encode("utf-8", "surrogatepass")
        return hmac.digest(self._client_key, message, "sha256").hex()[:32]
