"""The HTTP front door: API Gateway (routes to handlers) and CloudFront (public assets) on one origin,
as the deployed distribution serves both from one domain.

It answers malformed HTTP as the managed services do, never with the standard library's HTML pages: every
refusal is API Gateway's JSON ``{"message": ...}``. Bodies are framed strictly (one ``Content-Length`` or
``Transfer-Encoding: chunked``, never both: no request smuggling) and never buffered past API Gateway's
10 MiB cap. As CloudFront, it removes the headers only CloudFront may set and sets them from what it knows
itself (the peer's address, the validated Host). See ``docs/front-door.md``.
"""

from __future__ import annotations

import base64
import contextlib
import io
import ipaddress
import json
import logging
import os
import re
import socket
import ssl
import time
from collections.abc import Callable
from dataclasses import dataclass
from email.message import Message
from http import HTTPStatus
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any, ClassVar, Protocol
from urllib.parse import parse_qsl, quote, unquote_plus

from marketplace.identity import local_issuer, local_users
from marketplace.identity.local_issuer import ISSUER_PATH, LocalIssuer
from marketplace.local.apigw import MAX_BODY_BYTES, HttpResponse, RouteTable, build_event, gateway_error, to_response
from marketplace.local.cdn import Cdn
from marketplace.local.environments import InvocationError
from marketplace.local.invoker import Invoker

log = logging.getLogger("marketplace.local.http")


class Runtime(Protocol):
    """What the front door reads of the runtime that serves it (``local.runtime.LocalMarketplace``), so this
    module does not import the runtime, which imports it."""

    @property
    def host(self) -> str: ...
    @property
    def port(self) -> int: ...
    @property
    def scheme(self) -> str: ...
    @property
    def base_url(self) -> str: ...
    @property
    def ready(self) -> bool: ...
    @property
    def local_issuer(self) -> LocalIssuer | None: ...
    @property
    def cdn(self) -> Cdn | None: ...
    @property
    def routes(self) -> RouteTable: ...
    @property
    def invoker(self) -> Invoker: ...

    def health(self) -> tuple[bool, dict[str, Any]]: ...
DRAIN_LIMIT = 64 * 1024 * 1024
HOP_BY_HOP = {"connection", "keep-alive", "transfer-encoding", "content-length", "date", "server", "upgrade",
              "proxy-connection", "te", "trailer"}
HANDSHAKE_TIMEOUT = 10.0
# Connections a burst may open before the accept loop takes them: the standard library's 5 drops or resets
# the SYNs of a burst of 20 (the kernel caps it at net.core.somaxconn).
LISTEN_BACKLOG = 1024
MAX_CHUNK_LINE = 4096  # a chunk-size line with its extensions, or one trailer line
MAX_TRAILER_LINES = 64
LINGER_SECONDS = 2.0  # after refusing a request, how long to read and drop what the client still sends
# The methods a CloudFront behaviour can forward (AllowedMethods); it refuses any other with a 403.
FORWARDED_METHODS = frozenset({"GET", "HEAD", "OPTIONS", "PUT", "PATCH", "POST", "DELETE"})
ORIGIN_HEADER_VAR = "MARKETPLACE_ORIGIN_HEADER"
DEFAULT_ORIGIN_HEADER = "x-origin-verify"
# Set by CloudFront alone (with every ``cloudfront-*`` header): a client's own values are removed.
CLOUDFRONT_ONLY_HEADERS = frozenset({"x-forwarded-for", "x-forwarded-host", "x-forwarded-proto", "x-amz-cf-id"})
REDACTED_PARAMETERS = frozenset({
    "token", "access_token", "code", "password", "secret", "signature", "x-amz-signature", "x-amz-credential",
    "x-amz-security-token",
})
MESSAGES = {  # API Gateway's wording for the answers the front door gives itself
    400: "Bad Request",
    403: "Forbidden",
    404: "Not Found",
    413: "Request Entity Too Large",
    414: "Request-URI Too Long",
    431: "Request Header Fields Too Large",
    500: "Internal Server Error",
    503: "Service Unavailable",
    505: "HTTP Version Not Supported",
}

_TOKEN = re.compile(r"[!#$%&'*+\-.^_`|~0-9A-Za-z]+")  # an HTTP field name (RFC 9110 token)
_FIELD_CONTROL = re.compile(r"[\x00-\x08\x0a-\x1f\x7f]")  # controls a field value must not hold (HTAB may)
_TARGET_CONTROL = re.compile(r"[\x00-\x20\x7f]")
_DIGITS = re.compile(r"[0-9]+")
_CHUNK_SIZE = re.compile(rb"[0-9A-Fa-f]{1,16}")
_HOST = re.compile(
    r"(?P<name>\[[0-9A-Fa-f:.]+\]|[A-Za-z0-9_](?:[A-Za-z0-9_-]{0,61}[A-Za-z0-9_])?"
    r"(?:\.[A-Za-z0-9_](?:[A-Za-z0-9_-]{0,61}[A-Za-z0-9_])?)*\.?)(?::(?P<port>[0-9]{1,5}))?"
)
_QUERY_PARAMETER = re.compile(r"(?P<lead>[?&;])(?P<name>[^=&;#\s\"']*)=(?P<value>[^&;#\s\"']*)")
_LOG_CONTROL = re.compile(r"[\x00-\x1f\x7f]")
_URI_HEADERS = frozenset({"location", "content-location"})
_URI_SAFE = "".join(chr(c) for c in range(0x21, 0x7F))  # printable ASCII stays; spaces and the rest are escaped


class Refusal(Exception):
    """A request the front door answers itself, as API Gateway would, and then closes the connection."""

    def __init__(self, status: int, detail: str) -> None:
        super().__init__(detail)
        self.status, self.detail = status, detail

    @property
    def message(self) -> str:
        return message_for(self.status)


def message_for(status: int) -> str:
    if status in MESSAGES:
        return MESSAGES[status]
    try:
        return HTTPStatus(status).phrase
    except ValueError:
        return "Error"


@dataclass(frozen=True)
class Framing:
    chunked: bool
    length: int  # with chunked, unknown (0)


def body_framing(headers: Message, request_version: str) -> Framing:
    """How the request's body is delimited, refusing every ambiguous combination (RFC 9112 section 6)."""
    encodings = headers.get_all("transfer-encoding") or []
    lengths = headers.get_all("content-length") or []
    if encodings:
        if lengths:
            raise Refusal(400, "both Transfer-Encoding and Content-Length")
        codings = [coding.strip().lower() for value in encodings for coding in value.split(",")]
        if codings != ["chunked"]:
            raise Refusal(400, "a Transfer-Encoding other than chunked")
        if request_version == "HTTP/1.0":
            raise Refusal(400, "Transfer-Encoding in an HTTP/1.0 request")
        return Framing(chunked=True, length=0)
    if not lengths:
        return Framing(chunked=False, length=0)
    values = {item.strip() for value in lengths for item in value.split(",")}
    if len(values) != 1:
        raise Refusal(400, "several different Content-Length values")
    (value,) = values
    if not _DIGITS.fullmatch(value):
        raise Refusal(400, "a Content-Length that is not a number")
    return Framing(chunked=False, length=int(value))


def read_chunked(rfile: io.BufferedIOBase, limit: int) -> bytes:
    """A ``Transfer-Encoding: chunked`` body, refused (413) as soon as a chunk's size would take it past
    ``limit``, before that chunk is read. Extensions are ignored; trailers are read and dropped."""
    chunks: list[bytes] = []
    total = 0
    while True:
        line = rfile.readline(MAX_CHUNK_LINE + 1)
        if len(line) > MAX_CHUNK_LINE:
            raise Refusal(400, "a chunk-size line too long")
        if not line.endswith(b"\r\n"):
            raise Refusal(400, "a chunk-size line not ended by CRLF")
        size_field, _, extensions = line[:-2].partition(b";")
        size_field = size_field.rstrip(b" \t")
        if not _CHUNK_SIZE.fullmatch(size_field) or b"\r" in extensions:
            raise Refusal(400, "a malformed chunk size")
        size = int(size_field, 16)
        if size == 0:
            break
        if total + size > limit:
            raise Refusal(413, "a chunked body past the size limit")
        data = rfile.read(size)
        if len(data) != size or rfile.read(2) != b"\r\n":
            raise Refusal(400, "a chunk shorter than its size or not ended by CRLF")
        chunks.append(data)
        total += size
    for _ in range(MAX_TRAILER_LINES):
        line = rfile.readline(MAX_CHUNK_LINE + 1)
        if line == b"\r\n":
            return b"".join(chunks)
        if len(line) > MAX_CHUNK_LINE or not line.endswith(b"\r\n") or b":" not in line:
            raise Refusal(400, "a malformed trailer")
    raise Refusal(400, "too many trailer lines")


def header_fault(headers: Message) -> str | None:
    """What makes the request's header section unusable, if anything: lines that are not fields (which the
    parser would silently drop, with every field after them), obsolete line folding, control characters,
    field names that are not tokens, more than one Host."""
    if headers.defects or headers.get_payload():
        return "a header line that is not a field"
    for name, value in headers.items():
        if not _TOKEN.fullmatch(name):
            return "a field name that is not a token"
        if _FIELD_CONTROL.search(value):
            return "a control character or line folding in a field value"
    if len(headers.get_all("host") or []) > 1:
        return "more than one Host"
    return None


def forwarded_host(value: str | None, fallback: str) -> str:
    """The Host the client used, if it is a plain ``host[:port]``; else ``fallback``."""
    host = (value or "").strip()
    found = _HOST.fullmatch(host) if len(host) <= 262 else None
    if found is None:
        return fallback
    port = found.group("port")
    if port is not None and not 0 < int(port) <= 65535:
        return fallback
    name = found.group("name")
    if name.startswith("["):
        try:
            ipaddress.IPv6Address(name[1:-1])
        except ValueError:
            return fallback
    return host


def host_name(host: str) -> str:
    """``host[:port]`` without the port (and without an IPv6 literal's brackets)."""
    if host.startswith("["):
        return host[1:].split("]", 1)[0]
    return host.split(":", 1)[0]


def own_host(runtime: Runtime) -> str:
    host = runtime.host if ":" not in runtime.host or runtime.host.startswith("[") else f"[{runtime.host}]"
    return f"{host}:{runtime.port}"


def redact(text: str) -> str:
    """``text`` with the values of secret-bearing query parameters replaced by ``***``."""

    def hide(found: re.Match[str]) -> str:
        if unquote_plus(found.group("name")).strip().lower() in REDACTED_PARAMETERS:
            return f"{found.group('lead')}{found.group('name')}=***"
        return found.group(0)

    return _QUERY_PARAMETER.sub(hide, text)


def header_field(name: str, value: object) -> tuple[str, str] | None:
    """A response header as it can be written, or ``None`` when it cannot be: a name that is not a token, a
    value with CR, LF or another control character (response splitting). Non-ASCII text is encoded: URLs
    (``Location``) percent-encoded as UTF-8, as a browser would send them; other values as UTF-8 bytes."""
    text = str(value).strip(" \t")
    if not _TOKEN.fullmatch(name) or _FIELD_CONTROL.search(text):
        return None
    if name.lower() in _URI_HEADERS:
        text = quote(text, safe=_URI_SAFE)
    elif not text.isascii():
        text = text.encode("utf-8").decode("latin-1")  # written as latin-1: the UTF-8 bytes go on the wire
    return name, text


def _viewer_address(address: tuple[Any, ...]) -> str:
    return f"{address[0]}:{address[1]}"  # CloudFront's form, IPv6 unbracketed: "2001:db8::1:443"


def _cloudfront_request_id() -> str:
    return base64.urlsafe_b64encode(os.urandom(42)).decode()


class FrontDoor(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    server_version = "marketplace-local"
    # A request line without a version is refused rather than answered in HTTP/0.9 (no status line at all).
    default_request_version = "HTTP/1.0"
    runtime: ClassVar[Runtime]
    raw_requestline: bytes  # set by handle_one_request
    _linger = False

    # --- logging -------------------------------------------------------------------------------------------

    def log_message(self, format: str, *args: object) -> None:
        text = _LOG_CONTROL.sub(lambda c: f"\\x{ord(c.group(0)):02x}", redact(format % args))
        log.info("%s %s", self.address_string(), text)

    # --- parsing and refusing ------------------------------------------------------------------------------

    def parse_request(self) -> bool:
        self._linger = False
        if len(self.raw_requestline.split()) == 2:  # "GET /": HTTP/0.9, no version and no header section
            self.command, self.request_version = "", "HTTP/1.0"
            self.requestline = str(self.raw_requestline, "iso-8859-1").rstrip("\r\n")
            self.send_error(HTTPStatus.BAD_REQUEST, "a request line without an HTTP version")
            return False
        if not super().parse_request():
            return False
        refusal = self._refusal()
        if refusal is not None:
            self.send_error(refusal.status, refusal.detail)
            return False
        return True

    def handle_expect_100(self) -> bool:
        """Refuse before ``100 Continue``, so that the client does not send a body only to have it dropped."""
        refusal = self._refusal()
        if refusal is None:
            framing = body_framing(self.headers, self.request_version)
            if framing.length > MAX_BODY_BYTES:
                refusal = Refusal(413, "a Content-Length past the size limit")
        if refusal is not None:
            self.send_error(refusal.status, refusal.detail)
            return False
        return super().handle_expect_100()

    def _refusal(self) -> Refusal | None:
        if self.command not in FORWARDED_METHODS:
            return Refusal(403, "a method CloudFront does not forward")
        if _TARGET_CONTROL.search(self.path):
            return Refusal(400, "a control character in the request target")
        fault = header_fault(self.headers)
        if fault is not None:
            return Refusal(400, fault)
        try:
            body_framing(self.headers, self.request_version)
        except Refusal as refusal:
            return refusal
        return None

    def send_error(self, code: int, message: str | None = None, explain: str | None = None) -> None:
        """The standard library's refusals (malformed request line, header lines too long or too many), and
        the front door's own, as API Gateway's JSON; the connection is then closed."""
        if self.request_version == "HTTP/0.9":
            self.request_version = "HTTP/1.0"
        if self.command is None:
            self.command = ""
        self.log_error("code %d, message %s", int(code), message or message_for(code))
        self.close_connection = True
        self._linger = True
        self._send(gateway_error(int(code), message_for(code)))

    def finish(self) -> None:
        try:
            super().finish()
        finally:
            if self._linger:
                self._linger_close()

    def _linger_close(self) -> None:
        """After a refusal, the client may still be sending: closing with unread data would reset the
        connection, and the reset can destroy the answer before the client reads it. So: stop writing, then
        read and drop what arrives, for a bounded time and size."""
        with contextlib.suppress(OSError, ValueError):
            self.connection.shutdown(socket.SHUT_WR)
            deadline, drained = time.monotonic() + LINGER_SECONDS, 0
            while drained < DRAIN_LIMIT and (left := deadline - time.monotonic()) > 0:
                self.connection.settimeout(left)
                chunk = self.connection.recv(1 << 16)
                if not chunk:
                    break
                drained += len(chunk)

    # --- requests ------------------------------------------------------------------------------------------

    def _dispatch(self) -> None:
        try:
            response = self._respond()
        except Refusal as refusal:
            self.log_error("refused: %s", refusal.detail)
            self.close_connection = True
            self._linger = True
            response = gateway_error(refusal.status, refusal.message)
        except Exception:
            log.exception("request failed in the local runtime")
            response = gateway_error(500, "Internal Server Error")
        self._send(response)

    def _read_body(self) -> bytes | None:
        framing = body_framing(self.headers, self.request_version)
        if framing.chunked:
            return read_chunked(self.rfile, MAX_BODY_BYTES)
        length = framing.length
        if length > MAX_BODY_BYTES:
            remaining = length if length <= DRAIN_LIMIT else 0
            while remaining > 0:  # read what the client is sending, so that it sees the 413
                chunk = self.rfile.read(min(1 << 20, remaining))
                if not chunk:
                    break
                remaining -= len(chunk)
            return None
        if not length:
            return b""
        body = self.rfile.read(length)
        if len(body) != length:
            raise Refusal(400, "a body shorter than its Content-Length")
        return body

    def _respond(self) -> HttpResponse:
        runtime = self.runtime
        path, _, query = self.path.partition("?")
        method = self.command
        body = self._read_body()
        if body is None:
            self.close_connection = True
            return gateway_error(413, "Request Entity Too Large")
        if path == "/healthz":
            healthy, report = runtime.health()
            return HttpResponse(200 if healthy else 503, [("content-type", "application/json")],
                                json.dumps(report).encode())
        if path.startswith(ISSUER_PATH + "/") and runtime.local_issuer is not None:
            return _local_issuer(runtime, method, path[len(ISSUER_PATH):], query, body, self.headers,
                                 str(self.client_address[0]))
        if not runtime.ready:
            return gateway_error(503, "Service Unavailable")
        headers = {k.lower(): v for k, v in self.headers.items()}
        if runtime.cdn and runtime.cdn.handles(path):
            return runtime.cdn.serve(method, path, headers)
        match = runtime.routes.match(method, path)
        if match is None:
            return gateway_error(404, "Not Found")
        host = forwarded_host(self.headers.get("host"), own_host(runtime))
        event = build_event(
            method=method, raw_path=path, raw_query=query, headers=self._origin_request_headers(host),
            body=body, source_ip=self.client_address[0], match=match, domain_name=host_name(host),
        )
        try:
            result = runtime.invoker.invoke(match.function, event)
        except InvocationError as error:  # a function error, crash or timeout: API Gateway's 500
            log.error("%s failed (%s): %s", match.function.name, error.error_type, error)
            return gateway_error(500, "Internal Server Error")
        except Exception:
            log.exception("%s raised", match.function.name)
            return gateway_error(500, "Internal Server Error")
        return to_response(result)

    def _origin_request_headers(self, host: str) -> list[tuple[str, str]]:
        """The request's headers as CloudFront forwards them: the ones only CloudFront sets are the front
        door's own, whatever the client wrote."""
        origin_header = (os.environ.get(ORIGIN_HEADER_VAR) or DEFAULT_ORIGIN_HEADER).strip().lower()
        removed = CLOUDFRONT_ONLY_HEADERS | {origin_header, DEFAULT_ORIGIN_HEADER}
        items = [(name, value) for name, value in self.headers.items()
                 if name.lower() not in removed and not name.lower().startswith("cloudfront-")]
        items += [
            ("cloudfront-viewer-address", _viewer_address(self.client_address)),
            ("x-forwarded-for", str(self.client_address[0])),
            ("x-forwarded-host", host),
            ("x-forwarded-proto", self.runtime.scheme),
            ("x-amz-cf-id", _cloudfront_request_id()),
        ]
        secret = getattr(self.runtime, "origin_secret", None)
        if secret:
            items.append((origin_header, str(secret)))
        return items

    def _send(self, response: HttpResponse) -> None:
        status = response.status
        try:
            self.send_response(status)
            length = None
            for name, value in response.headers:
                lower = name.lower()
                if lower == "content-length":
                    length = str(value).strip()
                if lower in HOP_BY_HOP:
                    continue
                field = header_field(name, value)
                if field is None:
                    log.warning("dropped a response header that cannot be written as HTTP: %r", name[:64])
                    continue
                self.send_header(*field)
            if status == 204 or status == 304 or status < 200:
                pass  # no Content-Length on these (RFC 9110 section 8.6)
            elif self.command == "HEAD" and length is not None and _DIGITS.fullmatch(length):
                self.send_header("Content-Length", length)
            else:
                self.send_header("Content-Length", str(len(response.body)))
            if self.close_connection:
                self.send_header("Connection", "close")
            self.end_headers()
            if self.command != "HEAD" and status not in (204, 304) and status >= 200:
                self.wfile.write(response.body)
        except OSError as error:  # the client went away
            log.info("%s: the answer could not be written: %s", self.address_string(), error)
            self.close_connection = True

    do_GET = do_POST = do_PUT = do_DELETE = do_PATCH = do_OPTIONS = do_HEAD = _dispatch  # noqa: N815


def make_handler(runtime: Runtime) -> type[BaseHTTPRequestHandler]:
    return type("Handler", (FrontDoor,), {"runtime": runtime})


def _local_issuer(runtime: Runtime, method: str, path: str, query: str, body: bytes,
                  headers: Message, client: str) -> HttpResponse:
    """The runtime's own OIDC issuer (served here, not by a function): its discovery document and key set, its
    sign-in page (``/authorize``, for ``client``: the peer's address, which failed sign-ins are counted by) and
    its token endpoint (``/token``)."""
    issuer = runtime.local_issuer
    assert issuer is not None
    if path == local_issuer.AUTHORIZE_PATH:
        return _authorize(issuer, runtime.base_url, method, query, body, headers, client)
    if path == local_issuer.TOKEN_PATH:
        return _token(issuer, runtime.base_url, method, body, headers)
    document = issuer.well_known(path, runtime.base_url)
    if document is None:
        return gateway_error(404, "Not Found")
    if method not in ("GET", "HEAD"):
        return _not_allowed("GET, HEAD")
    return HttpResponse(200, [("content-type", "application/json"), ("cache-control", "public, max-age=300"),
                              ("access-control-allow-origin", "*")], json.dumps(document).encode())


def _authorize(issuer: LocalIssuer, base_url: str, method: str, query: str, body: bytes,
               headers: Message, client: str) -> HttpResponse:
    """The sign-in page (GET) and its form's submission (POST): a 303 back to the client with a code for a
    local user's right name and password; else the form again (400 for an unusable user name, 401 for a wrong
    name or password, 403 when there is no local user, 429 when throttled), or a 400 page, never a redirect,
    for a request that cannot be served (503 when the users file is damaged)."""
    if method not in ("GET", "HEAD", "POST"):
        return _not_allowed("GET, HEAD, POST")
    if method == "POST":
        if not _is_form(headers):
            return _sign_in_refusal("the form must be sent as application/x-www-form-urlencoded", 415)
        if not _same_origin_post(headers, base_url):
            return _sign_in_refusal("the form was sent from another site")
        parameters = _form(body)
    else:
        parameters = _form(query.encode("latin-1", "replace"))
    if parameters is None:
        return _sign_in_refusal("the request's parameters are malformed or repeated")
    try:
        authorization = issuer.check_authorization(parameters, base_url)
    except local_issuer.AuthorizationRefused as refusal:
        return _sign_in_refusal(str(refusal))
    policy = local_issuer.page_policy(authorization, base_url)
    try:
        if method != "POST":
            return _page(200, local_issuer.sign_in_page(authorization, users=issuer.has_users()), policy)
        location = issuer.sign_in(authorization, parameters.get("user", ""), parameters.get("password", ""), client)
    except local_users.UsersFileError as error:
        log.error("the local sign-in cannot read its users: %s", error)
        return _sign_in_refusal("its list of local users cannot be read (the runtime's log says why)", 503)
    except local_issuer.SignInFailed as failure:
        page = local_issuer.sign_in_page(authorization, user=parameters.get("user", "")[:300],
                                         problem=failure.message, users=failure.status != 403)
        response = _page(failure.status, page, policy)
        if failure.retry_after:
            response.headers.append(("retry-after", str(failure.retry_after)))
        return response
    return HttpResponse(303, [("location", location), ("cache-control", "no-store")], b"")


def _token(issuer: LocalIssuer, base_url: str, method: str, body: bytes, headers: Message) -> HttpResponse:
    """The token endpoint: the code exchanged for tokens, or an RFC 6749 error (400)."""
    if method != "POST":
        return _not_allowed("POST")
    form = _form(body) if _is_form(headers) else None
    try:
        if form is None:
            raise local_issuer.TokenRefused("invalid_request", "the request must be one form, each parameter once")
        answer: dict[str, Any] = issuer.exchange(form, base_url)
        status = 200
    except local_issuer.TokenRefused as refusal:
        answer, status = refusal.body(), 400
    return HttpResponse(status, [("content-type", "application/json"), ("cache-control", "no-store"),
                                 ("pragma", "no-cache")], json.dumps(answer).encode())


def _form(data: bytes) -> dict[str, str] | None:
    """An ``application/x-www-form-urlencoded`` text as a dict, or None when it is not UTF-8, is malformed or
    repeats a parameter (RFC 6749 section 3.1)."""
    try:
        pairs = parse_qsl(data.decode("utf-8"), keep_blank_values=True, strict_parsing=bool(data),
                          max_num_fields=64)
    except (UnicodeDecodeError, ValueError):
        return None
    form = dict(pairs)
    return form if len(form) == len(pairs) else None


def _is_form(headers: Message) -> bool:
    return headers.get_content_type() == "application/x-www-form-urlencoded"


def _same_origin_post(headers: Message, base_url: str) -> bool:
    """A browser names the page a form was sent from (``Origin``): it must be the runtime's own (or loopback),
    so another site cannot sign a visitor in as a user of its choosing. Clients that send none are let in."""
    sender = headers.get("origin")
    if sender is None:
        return True
    return local_issuer.own_origin(sender.strip(), base_url) and sender.strip().count("/") == 2


def _page(status: int, page: str, policy: str = local_issuer.PAGE_POLICY) -> HttpResponse:
    return HttpResponse(status, [
        ("content-type", "text/html; charset=utf-8"), ("content-security-policy", policy),
        ("cache-control", "no-store"), ("x-content-type-options", "nosniff"), ("x-frame-options", "DENY"),
        ("referrer-policy", "same-origin"),
    ], page.encode())


def _sign_in_refusal(message: str, status: int = 400) -> HttpResponse:
    return _page(status, local_issuer.refusal_page(message))


def _not_allowed(allow: str) -> HttpResponse:
    response = gateway_error(405, "Method Not Allowed")
    response.headers.append(("allow", allow))
    return response


def _plain_http_answer() -> bytes:
    body = json.dumps({"message": "This port speaks HTTPS (marketplace serve --tls): use an https:// URL"}).encode()
    head = ("HTTP/1.1 400 Bad Request\r\nContent-Type: application/json\r\n"
            f"Content-Length: {len(body)}\r\nConnection: close\r\n\r\n")
    return head.encode() + body


class FrontDoorServer(ThreadingHTTPServer):
    request_queue_size = LISTEN_BACKLOG
    daemon_threads = True


class TlsHTTPServer(FrontDoorServer):
    """HTTPS: the TLS handshake runs in the request's own thread, so a slow client holds up only itself,
    never the accept loop; a plain-HTTP request on the HTTPS port gets a readable 400 instead of a reset."""

    def __init__(self, address: tuple[str, int], handler: type[BaseHTTPRequestHandler],
                 context: ssl.SSLContext) -> None:
        self.context = context
        super().__init__(address, handler)

    def finish_request(self, request: Any, client_address: Any) -> None:
        assert isinstance(request, socket.socket)
        request.settimeout(HANDSHAKE_TIMEOUT)
        try:
            first = request.recv(1, socket.MSG_PEEK)
            if first and first != b"\x16":  # not a TLS handshake record
                request.sendall(_plain_http_answer())
                return
            connection = self.context.wrap_socket(request, server_side=True)
        except (ssl.SSLError, OSError) as error:  # e.g. a client that does not trust the certificate
            log.info("TLS handshake with %s failed: %s", client_address[0], error)
            return
        try:
            connection.settimeout(None)
            super().finish_request(connection, client_address)
        finally:
            with contextlib.suppress(OSError):
                connection.shutdown(socket.SHUT_WR)
            connection.close()


def serve(runtime: Runtime, host: str, port: int,
          tls: ssl.SSLContext | None = None) -> tuple[ThreadingHTTPServer, Callable[[], None]]:
    handler = make_handler(runtime)
    server = FrontDoorServer((host, port), handler) if tls is None else TlsHTTPServer((host, port), handler, tls)
    return server, server.serve_forever
