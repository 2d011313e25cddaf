"""API Gateway HTTP API emulation: route selection and the payload format 2.0 event and response.

Route selection follows API Gateway's rules for HTTP APIs: a route whose path matches with no greedy
variable beats one that needs ``{proxy+}``; among those, more literal segments win, then a method-specific
route beats ``ANY``. The event and the response mapping follow the payload format version 2.0.
"""

from __future__ import annotations

import base64
import json
import re
import time
import uuid
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any
from urllib.parse import parse_qsl

from marketplace.local.context import ACCOUNT
from marketplace.platform.functions import FunctionDef, Route

API_ID = "local"
MAX_BODY_BYTES = 10 * 1024 * 1024  # API Gateway's payload limit

_TEXT_TYPES = re.compile(
    r"^(text/|application/(json|.*\+json|xml|.*\+xml|javascript|x-www-form-urlencoded|graphql))", re.I
)


@dataclass(frozen=True)
class CompiledRoute:
    function: FunctionDef
    route: Route
    pattern: re.Pattern[str]
    params: tuple[str, ...]
    greedy: bool
    literal_segments: int

    def rank(self) -> tuple[int, int, int]:
        return (0 if self.greedy else 1, self.literal_segments, 0 if self.route.method == "ANY" else 1)


def _compile(fn: FunctionDef, route: Route) -> CompiledRoute:
    regex, params, literal, greedy = "", [], 0, False
    for segment in route.path.strip("/").split("/"):
        if segment.startswith("{") and segment.endswith("+}"):
            regex += rf"/(?P<{segment[1:-2]}>.+)"
            params.append(segment[1:-2])
            greedy = True
        elif segment.startswith("{") and segment.endswith("}"):
            regex += rf"/(?P<{segment[1:-1]}>[^/]+)"
            params.append(segment[1:-1])
        else:
            regex += "/" + re.escape(segment)
            literal += 1
    return CompiledRoute(fn, route, re.compile(f"^{regex}$"), tuple(params), greedy, literal)


@dataclass(frozen=True)
class Match:
    function: FunctionDef
    route_key: str
    path_parameters: dict[str, str]


class RouteTable:
    def __init__(self, functions: Iterable[FunctionDef]) -> None:
        self.routes = [_compile(fn, route) for fn in functions for route in fn.routes]
        keys = [c.route.key for c in self.routes]
        duplicates = {k for k in keys if keys.count(k) > 1}
        if duplicates:
            raise ValueError(f"routes defined twice: {sorted(duplicates)}")

    def match(self, method: str, path: str) -> Match | None:
        found = self._match(method, path)
        if found is None and len(path) > 1 and path.endswith("/"):
            # API Gateway routes "/items/" as "/items" (the event's rawPath keeps the slash): VS Code links an
            # extension's page as "{itemUrl}/?itemName=..."
            found = self._match(method, path.rstrip("/"))
        return found

    def _match(self, method: str, path: str) -> Match | None:
        best: tuple[tuple[int, int, int], CompiledRoute, dict[str, str]] | None = None
        for compiled in self.routes:
            if compiled.route.method not in ("ANY", method.upper()):
                continue
            found = compiled.pattern.match(path)
            if not found:
                continue
            if best is None or compiled.rank() > best[0]:
                best = (compiled.rank(), compiled, found.groupdict())
        if best is None:
            return None
        return Match(best[1].function, best[1].route.key, best[2])


def _is_text(content_type: str | None) -> bool:
    return content_type is None or bool(_TEXT_TYPES.match(content_type))


def build_event(
    *,
    method: str,
    raw_path: str,
    raw_query: str,
    headers: Iterable[tuple[str, str]],
    body: bytes,
    source_ip: str,
    match: Match,
    domain_name: str,
) -> dict[str, Any]:
    """The event API Gateway sends a Lambda integration with payload format 2.0."""
    merged: dict[str, str] = {}
    cookies: list[str] = []
    for name, value in headers:
        lower = name.lower()
        if lower == "cookie":
            cookies += [c.strip() for c in value.split(";") if c.strip()]
            continue
        merged[lower] = f"{merged[lower]},{value}" if lower in merged else value
    query: dict[str, str] = {}
    for name, value in parse_qsl(raw_query, keep_blank_values=True):
        query[name] = f"{query[name]},{value}" if name in query else value
    now = datetime.now(UTC)
    event: dict[str, Any] = {
        "version": "2.0",
        "routeKey": match.route_key,
        "rawPath": raw_path,
        "rawQueryString": raw_query,
        "headers": merged,
        "requestContext": {
            "accountId": ACCOUNT,
            "apiId": API_ID,
            "domainName": domain_name,
            "domainPrefix": domain_name.split(".")[0],
            "http": {
                "method": method.upper(),
                "path": raw_path,
                "protocol": "HTTP/1.1",
                "sourceIp": source_ip,
                "userAgent": merged.get("user-agent", ""),
            },
            "requestId": uuid.uuid4().hex[:16] + "=",
            "routeKey": match.route_key,
            "stage": "$default",
            "time": now.strftime("%d/%b/%Y:%H:%M:%S +0000"),
            "timeEpoch": int(time.time() * 1000),
        },
        "isBase64Encoded": False,
    }
    if cookies:
        event["cookies"] = cookies
    if query:
        event["queryStringParameters"] = query
    if match.path_parameters:
        event["pathParameters"] = match.path_parameters
    if body:
        if _is_text(merged.get("content-type")):
            try:
                event["body"] = body.decode("utf-8")
            except UnicodeDecodeError:
                event["body"], event["isBase64Encoded"] = base64.b64encode(body).decode(), True
        else:
            event["body"], event["isBase64Encoded"] = base64.b64encode(body).decode(), True
    return event


@dataclass(frozen=True)
class HttpResponse:
    status: int
    headers: list[tuple[str, str]]
    body: bytes


def to_response(result: object) -> HttpResponse:
    """Map a handler's return value to HTTP as API Gateway does for payload format 2.0."""
    if not (isinstance(result, Mapping) and "statusCode" in result):
        # Without a statusCode, API Gateway assumes 200 and a JSON body of whatever was returned.
        text = result if isinstance(result, str) else json.dumps(result)
        return HttpResponse(200, [("content-type", "application/json")], text.encode())
    try:
        status = int(result["statusCode"])
    except (TypeError, ValueError):
        status = 0
    if not 200 <= status <= 599:  # API Gateway's answer to a malformed Lambda response
        return gateway_error(500, "Internal Server Error")
    headers: list[tuple[str, str]] = [(k, str(v)) for k, v in (result.get("headers") or {}).items()]
    for name, values in (result.get("multiValueHeaders") or {}).items():
        headers += [(name, str(v)) for v in values]
    headers += [("set-cookie", c) for c in result.get("cookies") or []]
    raw = result.get("body") or ""
    body = base64.b64decode(raw) if result.get("isBase64Encoded") else str(raw).encode()
    return HttpResponse(status, headers, body)


def gateway_error(status: int, message: str) -> HttpResponse:
    """API Gateway's own error answer (no route, integration failure, payload too large)."""
    return HttpResponse(status, [("content-type", "application/json")], json.dumps({"message": message}).encode())
