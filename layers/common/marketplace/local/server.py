"""The HTTP front door: API Gateway (routes to handlers) and CloudFront (public assets) on one origin,
as the deployed distribution serves both from one domain."""

from __future__ import annotations

import contextlib
import json
import logging
import socket
import ssl
from collections.abc import Callable
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import TYPE_CHECKING, Any

from marketplace.identity.local_issuer import ISSUER_PATH
from marketplace.local.apigw import MAX_BODY_BYTES, HttpResponse, build_event, gateway_error, to_response

if TYPE_CHECKING:
    from marketplace.local.runtime import LocalMarketplace

log = logging.getLogger("marketplace.local.http")
DRAIN_LIMIT = 64 * 1024 * 1024
HOP_BY_HOP = {"connection", "keep-alive", "transfer-encoding", "content-length", "date", "server"}
HANDSHAKE_TIMEOUT = 10.0


def make_handler(runtime: LocalMarketplace) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"
        server_version = "marketplace-local"

        def log_message(self, format: str, *args: object) -> None:
            log.info("%s %s", self.address_string(), format % args)

        def _dispatch(self) -> None:
            try:
                response = self._respond()
            except Exception:
                log.exception("request failed in the local runtime")
                response = gateway_error(500, "Internal Server Error")
            self._send(response)

        def _read_body(self) -> bytes | None:
            if self.headers.get("transfer-encoding", "").lower() == "chunked":
                chunks, total = [], 0
                while True:
                    size = int(self.rfile.readline().strip().split(b";")[0] or b"0", 16)
                    if size == 0:
                        self.rfile.readline()
                        break
                    total += size
                    if total > MAX_BODY_BYTES:
                        return None
                    chunks.append(self.rfile.read(size))
                    self.rfile.readline()
                return b"".join(chunks)
            length = int(self.headers.get("content-length") or 0)
            if length > MAX_BODY_BYTES:
                remaining = length if length <= DRAIN_LIMIT else 0
                while remaining > 0:  # read what the client is sending, so that it sees the 413
                    chunk = self.rfile.read(min(1 << 20, remaining))
                    if not chunk:
                        break
                    remaining -= len(chunk)
                return None
            return self.rfile.read(length) if length else b""

        def _respond(self) -> HttpResponse:
            path, _, query = self.path.partition("?")
            method = self.command.upper()
            body = self._read_body()
            if body is None:
                self.close_connection = True
                return gateway_error(413, "Request Entity Too Large")
            if path == "/healthz":
                healthy, report = runtime.health()
                return HttpResponse(200 if healthy else 503, [("content-type", "application/json")],
                                    json.dumps(report).encode())
            if path.startswith(ISSUER_PATH + "/") and runtime.local_issuer is not None:
                return _local_issuer(runtime, method, path[len(ISSUER_PATH):])
            if not runtime.ready:
                return gateway_error(503, "Service Unavailable")
            headers = {k.lower(): v for k, v in self.headers.items()}
            if runtime.cdn and runtime.cdn.handles(path):
                return runtime.cdn.serve(method, path, headers)
            match = runtime.routes.match(method, path)
            if match is None:
                return gateway_error(404, "Not Found")
            host = self.headers.get("host", f"{runtime.host}:{runtime.port}")
            header_items = [*self.headers.items(), ("x-forwarded-host", host),
                            ("x-forwarded-proto", runtime.scheme), ("x-forwarded-for", self.client_address[0])]
            event = build_event(
                method=method, raw_path=path, raw_query=query, headers=header_items, body=body,
                source_ip=self.client_address[0], match=match, domain_name=host.split(":")[0],
            )
            try:
                result = runtime.invoker.invoke(match.function, event)
            except Exception:
                log.exception("%s raised", match.function.name)
                return gateway_error(500, "Internal Server Error")
            return to_response(result)

        def _send(self, response: HttpResponse) -> None:
            self.send_response(response.status)
            length = None
            for name, value in response.headers:
                if name.lower() == "content-length":
                    length = value
                if name.lower() not in HOP_BY_HOP:
                    self.send_header(name, value)
            if self.command == "HEAD" and length is not None:
                self.send_header("Content-Length", length)
            else:
                self.send_header("Content-Length", str(len(response.body)))
            self.end_headers()
            if self.command != "HEAD" and response.status not in (204, 304):
                self.wfile.write(response.body)

        do_GET = do_POST = do_PUT = do_DELETE = do_PATCH = do_OPTIONS = do_HEAD = _dispatch  # noqa: N815

    return Handler


def _local_issuer(runtime: LocalMarketplace, method: str, path: str) -> HttpResponse:
    """The runtime's own OIDC issuer: its discovery document and key set (served here, not by a function)."""
    assert runtime.local_issuer is not None
    document = runtime.local_issuer.well_known(path, runtime.base_url)
    if document is None:
        return gateway_error(404, "Not Found")
    if method not in ("GET", "HEAD"):
        response = gateway_error(405, "Method Not Allowed")
        response.headers.append(("allow", "GET, HEAD"))
        return response
    return HttpResponse(200, [("content-type", "application/json"), ("cache-control", "public, max-age=300"),
                              ("access-control-allow-origin", "*")], json.dumps(document).encode())


def _plain_http_answer() -> bytes:
    body = json.dumps({"message": "This port speaks HTTPS (marketplace serve --tls): use an https:// URL"}).encode()
    head = ("HTTP/1.1 400 Bad Request\r\nContent-Type: application/json\r\n"
            f"Content-Length: {len(body)}\r\nConnection: close\r\n\r\n")
    return head.encode() + body


class TlsHTTPServer(ThreadingHTTPServer):
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


def serve(runtime: LocalMarketplace, host: str, port: int,
          tls: ssl.SSLContext | None = None) -> tuple[ThreadingHTTPServer, Callable[[], None]]:
    handler = make_handler(runtime)
    server = ThreadingHTTPServer((host, port), handler) if tls is None else TlsHTTPServer((host, port), handler, tls)
    server.daemon_threads = True
    return server, server.serve_forever
