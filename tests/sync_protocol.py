"""A Settings Sync store client that behaves like VS Code's ``UserDataSyncStoreClient`` and its synchronizers.

Written only from ``docs/protocols/settings-sync.md`` (section numbers below refer to it), so that a
test driving it checks our store against what the editor sends and accepts, not against our own server code.
Standard library only (``urllib``): it speaks to any store URL, over https with an optional CA file.

* :class:`StoreClient` — one client instance (§C2 headers, §C3 endpoints, §C3.1 checks, §C6 status mapping,
  the local throttle and the ``Retry-After`` back-off). Every request/response pair is kept in
  ``exchanges``; ``problems`` collects breaches of the server contract the client itself does not enforce
  (``X-Operation-Id`` on every response, JSON error bodies, no 5xx) so a test can assert there were none.
* :class:`Machine` — one installation (machine id, cached manifest, last-synced refs, session) whose
  :meth:`Machine.sync` runs the real synchronizer sequence of §C7, including the 412/409 re-read and retry.
* :class:`EditSessions` — the Edit Sessions ("Cloud Changes") calls of §C8.
"""

from __future__ import annotations

import json
import ssl
import time
import urllib.error
import urllib.request
import uuid
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from enum import StrEnum
from typing import Any
from urllib.parse import quote, urlsplit


class ErrorCode(StrEnum):
    """The client's ``UserDataSyncErrorCode`` values used here (§C6, §C3.1, §C5)."""

    UNAUTHORIZED = "Unauthorized"
    FORBIDDEN = "Forbidden"
    NOT_FOUND = "NotFound"
    METHOD_NOT_FOUND = "MethodNotFound"
    CONFLICT = "Conflict"
    GONE = "Gone"
    PRECONDITION_FAILED = "PreconditionFailed"
    TOO_LARGE = "TooLarge"
    UPGRADE_REQUIRED = "UpgradeRequired"
    PRECONDITION_REQUIRED = "PreconditionRequired"
    TOO_MANY_REQUESTS_AND_RETRY_AFTER = "TooManyRequestsAndRetryAfter"
    REMOTE_TOO_MANY_REQUESTS = "RemoteTooManyRequests"
    LOCAL_TOO_MANY_REQUESTS = "LocalTooManyRequests"
    LOCAL_TOO_MANY_PROFILES = "LocalTooManyProfiles"
    NO_REF = "NoRef"
    NO_COLLECTION = "NoCollection"
    SESSION_EXPIRED = "SessionExpired"
    TURNED_OFF = "TurnedOff"
    INCOMPATIBLE_LOCAL_CONTENT = "IncompatibleLocalContent"
    INCOMPATIBLE_REMOTE_CONTENT = "IncompatibleRemoteContent"
    # The response is not what the client can use (bad JSON, wrong shape, a 304 where none is allowed): the
    # editor fails such a request with a generic error.
    INVALID_RESPONSE = "InvalidResponse"
    UNKNOWN = "Unknown"


STATUS_CODES: dict[int, ErrorCode] = {  # §C6
    401: ErrorCode.UNAUTHORIZED,
    403: ErrorCode.FORBIDDEN,
    404: ErrorCode.NOT_FOUND,
    405: ErrorCode.METHOD_NOT_FOUND,
    409: ErrorCode.CONFLICT,
    410: ErrorCode.GONE,
    412: ErrorCode.PRECONDITION_FAILED,
    413: ErrorCode.TOO_LARGE,
    426: ErrorCode.UPGRADE_REQUIRED,
    428: ErrorCode.PRECONDITION_REQUIRED,
}

# The envelope version each synchronizer writes (§C4: per resource, opaque to the server).
SYNCHRONIZER_VERSIONS: dict[str, int] = {
    "settings": 2, "keybindings": 2, "snippets": 1, "tasks": 1, "extensions": 6, "globalState": 1,
    "profiles": 2, "prompts": 1, "mcp": 1,
}
RAW_RESOURCES = frozenset({"machines", "workspaceState", "editSessions"})  # §C4: stored without the envelope
MAX_PROFILES = 20  # §C4 profiles: the client refuses more
REQUEST_LIMIT = 100  # §C6: at most 100 requests per 5 minutes per client instance
REQUEST_WINDOW_SECONDS = 300.0


class SyncStoreError(Exception):
    """What ``UserDataSyncStoreError`` carries: a code, and for server answers the status and operation id."""

    def __init__(self, message: str, code: ErrorCode, *, method: str | None = None, url: str | None = None,
                 status: int | None = None, operation_id: str | None = None, resource: str | None = None,
                 exchange: Exchange | None = None) -> None:
        super().__init__(f"{message} [{code}]")
        self.code = code
        self.method = method
        self.url = url
        self.status = status
        self.operation_id = operation_id
        self.resource = resource
        self.exchange = exchange


@dataclass
class Exchange:
    """One request and its response, as sent and received."""

    method: str
    url: str
    request_headers: dict[str, str]
    request_body: bytes | None
    status: int
    headers: dict[str, str]  # response headers, names lower-cased
    body: bytes

    def header(self, name: str) -> str | None:
        return self.headers.get(name.lower())

    def sent(self, name: str) -> str | None:
        """A request header as sent (case-insensitive)."""
        lowered = name.lower()
        return next((v for k, v in self.request_headers.items() if k.lower() == lowered), None)

    @property
    def text(self) -> str:
        return self.body.decode("utf-8", "replace")

    def json(self) -> Any:
        return json.loads(self.body)

    def __repr__(self) -> str:  # never print the bearer token
        return f"<{self.method} {self.url} -> {self.status} {self.headers} {self.body[:300]!r}>"


def contract_problems(exchange: Exchange) -> list[str]:
    """Breaches of the store's documented contract that the editor itself would not notice."""
    where = f"{exchange.method} {urlsplit(exchange.url).path} -> {exchange.status}"
    problems = []
    if not exchange.header("x-operation-id"):
        problems.append(f"{where}: no X-Operation-Id")
    if exchange.status >= 500:
        problems.append(f"{where}: server error {exchange.text[:200]!r}")
    elif exchange.status >= 400:
        try:
            body = exchange.json()
        except ValueError:
            body = None
        if not (isinstance(body, dict) and isinstance(body.get("error"), str) and isinstance(body.get("message"), str)):
            problems.append(f"{where}: error body is not JSON {{error, message}}: {exchange.text[:200]!r}")
        if "json" not in (exchange.header("content-type") or ""):
            problems.append(f"{where}: error Content-Type {exchange.header('content-type')!r}")
        if exchange.status == 429 and not (exchange.header("retry-after") or "").strip().isdigit():
            problems.append(f"{where}: 429 without a Retry-After in seconds")
    return problems


@dataclass(frozen=True)
class Manifest:
    """§C5.1; ``ref`` is the response's ETag, never part of the body."""

    session: str
    latest: dict[str, str]
    collections: dict[str, dict[str, str]]
    ref: str
    raw: dict[str, Any]

    def latest_ref(self, resource: str, collection: str | None = None) -> str | None:
        if collection is None:
            return self.latest.get(resource)
        return self.collections.get(collection, {}).get(resource)


@dataclass(frozen=True)
class RemoteData:
    """What ``readResource`` returns: the ETag and the body text (``None`` for 204)."""

    ref: str
    content: str | None


@dataclass(frozen=True)
class RefEntry:
    """One row of the ref list (§C5.3); ``created`` stays in seconds as sent (the client multiplies by 1000)."""

    ref: str
    created: int | float
    url: str


@dataclass(frozen=True)
class LatestEntry:
    ref: str
    content: str


@dataclass(frozen=True)
class LatestData:
    """§C5.4 ``GET /v1/download/latest``."""

    resources: dict[str, LatestEntry]
    collections: dict[str, dict[str, LatestEntry]]


def _invalid(message: str, exchange: Exchange) -> SyncStoreError:
    return SyncStoreError(message, ErrorCode.INVALID_RESPONSE, method=exchange.method, url=exchange.url,
                          status=exchange.status, operation_id=exchange.header("x-operation-id"), exchange=exchange)


def _string_map(value: Any) -> bool:
    return isinstance(value, dict) and all(isinstance(k, str) and isinstance(v, str) for k, v in value.items())


def _parse_manifest(exchange: Exchange, ref: str) -> Manifest:
    try:
        data = exchange.json()
    except ValueError as error:
        raise _invalid(f"manifest is not JSON: {error}", exchange) from error
    if not isinstance(data, dict) or not isinstance(data.get("session"), str) or not data["session"]:
        raise _invalid("manifest has no string 'session'", exchange)
    latest = data.get("latest", {})
    if not _string_map(latest):
        raise _invalid("manifest 'latest' is not a map of resource to ref", exchange)
    collections: dict[str, dict[str, str]] = {}
    raw_collections = data.get("collections", {})
    if not isinstance(raw_collections, dict):
        raise _invalid("manifest 'collections' is not an object", exchange)
    for collection_id, entry in raw_collections.items():
        inner = entry.get("latest", {}) if isinstance(entry, dict) else None
        if not isinstance(inner, dict) or not _string_map(inner):
            raise _invalid(f"manifest collection {collection_id!r} has no 'latest' map", exchange)
        collections[collection_id] = {str(k): str(v) for k, v in inner.items()}
    return Manifest(data["session"], dict(latest), collections, ref, data)


def _parse_latest_entries(value: Any, exchange: Exchange) -> dict[str, LatestEntry]:
    if not isinstance(value, dict):
        raise _invalid("download/latest 'resources' is not an object", exchange)
    entries = {}
    for name, rows in value.items():
        if not (isinstance(rows, list) and len(rows) == 1 and isinstance(rows[0], dict)
                and isinstance(rows[0].get("ref"), str) and isinstance(rows[0].get("content"), str)):
            raise _invalid(f"download/latest resource {name!r} is not [{{ref, content}}]", exchange)
        entries[name] = LatestEntry(rows[0]["ref"], rows[0]["content"])
    return entries


class StoreClient:
    """``UserDataSyncStoreClient`` for one store URL (the configured ``configurationSync.store.url``)."""

    def __init__(self, store_url: str, token: str | None, account_type: str, *, client_name: str = "code-oss",
                 client_version: str = "1.101.0", client_commit: str | None = None, ca_file: str | None = None,
                 timeout: float = 30, request_limit: int | None = REQUEST_LIMIT,
                 request_window: float = REQUEST_WINDOW_SECONDS,
                 on_token_failed: Callable[[ErrorCode], None] | None = None) -> None:
        self.store_url = store_url.rstrip("/")
        self.v1 = f"{self.store_url}/v1"  # §C1.2
        self.token = token
        self.account_type = account_type
        self.client_name = client_name
        self.client_version = client_version
        self.client_commit = client_commit
        self.timeout = timeout
        self.request_limit = request_limit
        self.request_window = request_window
        self.on_token_failed = on_token_failed
        self.machine_session_id: str | None = None  # ``sync.machine-session-id``
        self.user_session_id: str | None = None  # ``sync.user-session-id``: last manifest session
        self.donot_make_requests_until: float | None = None  # ``sync.donot-make-requests-until``
        self.exchanges: list[Exchange] = []
        self.problems: list[str] = []
        self._request_times: list[float] = []
        handlers: list[urllib.request.BaseHandler] = [_NoRedirect()]
        if ca_file is not None:
            handlers.append(urllib.request.HTTPSHandler(context=ssl.create_default_context(cafile=ca_file)))
        self._opener = urllib.request.build_opener(*handlers)

    # -- URLs ------------------------------------------------------------------------------------------------

    def resource_url(self, resource: str, collection: str | None = None) -> str:
        name = quote(resource, safe="")
        if collection is None:
            return f"{self.v1}/resource/{name}"
        return f"{self.v1}/collection/{quote(collection, safe='')}/resource/{name}"

    # -- transport ---------------------------------------------------------------------------------------------

    def set_auth_token(self, token: str, account_type: str) -> None:
        self.token, self.account_type = token, account_type
        self._request_times.clear()

    def clear_session(self) -> None:
        """What the client does when the server's session changed or the data is gone (§C2, §C5.1)."""
        self.user_session_id = None
        self.machine_session_id = None

    def send(self, method: str, url: str, headers: Mapping[str, str] | None = None,
             body: bytes | None = None) -> Exchange:
        """One HTTP exchange with no client logic at all (also used by tests to send what a client would not)."""
        request = urllib.request.Request(url, data=body, method=method, headers=dict(headers or {}))
        try:
            with self._opener.open(request, timeout=self.timeout) as response:
                status, raw_headers, answer = response.status, response.headers, response.read()
        except urllib.error.HTTPError as error:
            status, raw_headers, answer = error.code, error.headers, error.read()
        exchange = Exchange(method, url, dict(headers or {}), body, status,
                            {k.lower(): v for k, v in raw_headers.items()}, answer)
        self.exchanges.append(exchange)
        self.problems.extend(contract_problems(exchange))
        return exchange

    def request(self, method: str, url: str, headers: Mapping[str, str] | None = None, body: bytes | None = None,
                *, success: tuple[int, ...] = (), resource: str | None = None) -> Exchange:
        """The client's ``request``: local checks, common and session headers, status → error code (§C6)."""
        if not self.token:
            raise SyncStoreError("No Auth Token Available", ErrorCode.UNAUTHORIZED, method=method, url=url,
                                 resource=resource)
        now = time.time()
        if self.donot_make_requests_until is not None:
            if now < self.donot_make_requests_until:
                raise SyncStoreError(f"{method} request '{url}' failed because of too many requests (429).",
                                     ErrorCode.TOO_MANY_REQUESTS_AND_RETRY_AFTER, method=method, url=url,
                                     resource=resource)
            self.donot_make_requests_until = None
        if self.request_limit is not None:
            self._request_times = [t for t in self._request_times if now - t < self.request_window]
            if len(self._request_times) >= self.request_limit:
                raise SyncStoreError("Too many requests made by this client", ErrorCode.LOCAL_TOO_MANY_REQUESTS,
                                     method=method, url=url, resource=resource)
            self._request_times.append(now)
        sent = {
            **(headers or {}),
            "X-Client-Name": self.client_name,
            "X-Client-Version": self.client_version,
            "User-Agent": f"{self.client_name}/{self.client_version} (sync_protocol test client)",
            "X-Account-Type": self.account_type,
            "authorization": f"Bearer {self.token}",
        }
        if self.client_commit:
            sent["X-Client-Commit"] = self.client_commit
        if self.machine_session_id is None:
            self.machine_session_id = str(uuid.uuid4())
        sent["X-Machine-Session-Id"] = self.machine_session_id
        if self.user_session_id is not None:
            sent["X-User-Session-Id"] = self.user_session_id
        exchange = self.send(method, url, sent, body)
        status = exchange.status
        if 200 <= status < 300 or status in success:
            return exchange
        operation_id = exchange.header("x-operation-id")
        message = f"{method} request '{url}' failed with status {status} (operation id {operation_id})"

        def error(code: ErrorCode, text: str = message) -> SyncStoreError:
            return SyncStoreError(text, code, method=method, url=url, status=status, operation_id=operation_id,
                                  resource=resource, exchange=exchange)

        if status in (401, 403):
            self.token = None  # the account must sign in again
            if self.on_token_failed is not None:
                self.on_token_failed(STATUS_CODES[status])
            raise error(STATUS_CODES[status])
        if status == 429:
            retry_after = (exchange.header("retry-after") or "").strip()
            if retry_after:
                self.donot_make_requests_until = time.time() + (int(retry_after) if retry_after.isdigit() else 0)
                raise error(ErrorCode.TOO_MANY_REQUESTS_AND_RETRY_AFTER)
            raise error(ErrorCode.REMOTE_TOO_MANY_REQUESTS)
        if status == 304:
            raise _invalid(f"{method} '{url}' answered 304 where the client does not accept it", exchange)
        raise error(STATUS_CODES.get(status, ErrorCode.UNKNOWN), f"{message}: {exchange.text[:300]}")

    @staticmethod
    def _ref(exchange: Exchange, resource: str | None = None) -> str:
        ref = exchange.header("etag")
        if not ref:  # §C3.1: mandatory even on 204
            raise SyncStoreError("Server did not return the ref", ErrorCode.NO_REF, method=exchange.method,
                                 url=exchange.url, status=exchange.status,
                                 operation_id=exchange.header("x-operation-id"), resource=resource, exchange=exchange)
        return ref

    @staticmethod
    def _text(exchange: Exchange) -> str:
        try:
            return exchange.body.decode("utf-8")
        except UnicodeDecodeError as error:
            raise _invalid(f"body is not UTF-8: {error}", exchange) from error

    # -- §C3 endpoints -----------------------------------------------------------------------------------------

    def manifest(self, old: Manifest | None = None, headers: Mapping[str, str] | None = None) -> Manifest | None:
        """#1. ``None`` when the user has no data (204); ``old`` again on 304."""
        sent = {**(headers or {}), "Content-Type": "application/json"}
        if old is not None:
            sent["If-None-Match"] = old.ref
        exchange = self.request("GET", f"{self.v1}/manifest", sent, success=(304,))
        manifest: Manifest | None
        if exchange.status == 304:
            if old is None:
                raise _invalid("manifest answered 304 to a request without If-None-Match", exchange)
            manifest = old
        else:
            ref = self._ref(exchange)
            manifest = None if exchange.status == 204 or not exchange.body else _parse_manifest(exchange, ref)
        if self.user_session_id is not None and (manifest is None or manifest.session != self.user_session_id):
            self.clear_session()  # the server's data epoch changed, or the data is gone (§C5.1)
        if manifest is not None:
            self.user_session_id = manifest.session
        return manifest

    def read_resource(self, resource: str, old: RemoteData | None = None, collection: str | None = None,
                      headers: Mapping[str, str] | None = None) -> RemoteData:
        """#2. ``old`` is the cached copy: its ref goes in ``If-None-Match`` and a 304 returns it."""
        sent = {**(headers or {}), "Cache-Control": "no-cache"}
        if old is not None:
            sent["If-None-Match"] = old.ref
        exchange = self.request("GET", f"{self.resource_url(resource, collection)}/latest", sent, success=(304,),
                                resource=resource)
        if exchange.status == 304:
            if old is None:
                raise _invalid("latest answered 304 to a request without If-None-Match", exchange)
            return old
        ref = self._ref(exchange, resource)
        return RemoteData(ref, None if exchange.status == 204 else self._text(exchange))

    def write_resource(self, resource: str, data: str | bytes, ref: str | None, collection: str | None = None,
                       headers: Mapping[str, str] | None = None) -> str:
        """#3. Returns the new ref (the response's ETag)."""
        sent = {**(headers or {}), "Content-Type": "text/plain"}
        if ref:
            sent["If-Match"] = ref
        body = data.encode("utf-8") if isinstance(data, str) else data
        exchange = self.request("POST", self.resource_url(resource, collection), sent, body, resource=resource)
        return self._ref(exchange, resource)

    def get_all_resource_refs(self, resource: str, collection: str | None = None,
                              headers: Mapping[str, str] | None = None) -> list[RefEntry]:
        """#4. The ref is taken relative to the resource URL (§C3.1), so ``url`` must be ``<its path>/<ref>``."""
        url = self.resource_url(resource, collection)
        exchange = self.request("GET", url, headers, resource=resource)
        if exchange.status == 204 or not exchange.body:
            return []
        try:
            rows = exchange.json()
        except ValueError as error:
            raise _invalid(f"ref list is not JSON: {error}", exchange) from error
        if not isinstance(rows, list):
            raise _invalid("ref list is not an array", exchange)
        base_path = urlsplit(url).path + "/"
        entries = []
        for row in rows:
            if not (isinstance(row, dict) and isinstance(row.get("url"), str)
                    and isinstance(row.get("created"), int | float) and not isinstance(row.get("created"), bool)):
                raise _invalid(f"ref list entry is not {{url, created}}: {row!r}", exchange)
            path = row["url"]
            ref = path[len(base_path):] if path.startswith(base_path) else ""
            if not ref or "/" in ref:
                raise _invalid(f"ref url {path!r} is not a path under {base_path!r}", exchange)
            entries.append(RefEntry(ref, row["created"], path))
        return entries

    def resolve_resource_content(self, resource: str, ref: str, collection: str | None = None,
                                 headers: Mapping[str, str] | None = None) -> str | None:
        """#5. ``None`` for 204; 404 raises NotFound."""
        sent = {**(headers or {}), "Cache-Control": "no-cache"}
        url = f"{self.resource_url(resource, collection)}/{quote(ref, safe='')}"
        exchange = self.request("GET", url, sent, resource=resource)
        return None if exchange.status == 204 else self._text(exchange)

    def delete_resource(self, resource: str, ref: str | None, collection: str | None = None) -> None:
        """#6 (one ref) and #7 (``ref=None``: every ref of the resource)."""
        url = self.resource_url(resource, collection)
        if ref is not None:
            url = f"{url}/{quote(ref, safe='')}"
        self.request("DELETE", url, resource=resource)

    def delete_resources(self) -> None:
        """#8."""
        self.request("DELETE", f"{self.v1}/resource", {"Content-Type": "text/plain"})

    def get_all_collections(self) -> list[str]:
        """#9."""
        exchange = self.request("GET", f"{self.v1}/collection", {"Content-Type": "application/json"})
        if exchange.status == 204 or not exchange.body:
            return []
        try:
            rows = exchange.json()
        except ValueError as error:
            raise _invalid(f"collection list is not JSON: {error}", exchange) from error
        if not isinstance(rows, list) or not all(isinstance(r, dict) and isinstance(r.get("id"), str) for r in rows):
            raise _invalid("collection list is not [{id}]", exchange)
        return [row["id"] for row in rows]

    def create_collection(self) -> str:
        """#10: the body is the new id as plain text."""
        exchange = self.request("POST", f"{self.v1}/collection", {"Content-Type": "text/plain"}, b"")
        collection = self._text(exchange)
        if not collection:
            raise SyncStoreError("Server did not return the collection id", ErrorCode.NO_COLLECTION,
                                 method="POST", url=exchange.url, status=exchange.status, exchange=exchange)
        return collection

    def delete_collection(self, collection: str | None = None) -> None:
        """#11 (one) and #12 (``None``: all)."""
        url = f"{self.v1}/collection" if collection is None else f"{self.v1}/collection/{quote(collection, safe='')}"
        self.request("DELETE", url)

    def get_latest_data(self) -> LatestData | None:
        """#13 (§C5.4)."""
        exchange = self.request("GET", f"{self.v1}/download/latest", {"Content-Type": "application/json"})
        if exchange.status == 204 or not exchange.body:
            return None
        try:
            data = exchange.json()
        except ValueError as error:
            raise _invalid(f"download/latest is not JSON: {error}", exchange) from error
        if not isinstance(data, dict):
            raise _invalid("download/latest is not an object", exchange)
        resources = _parse_latest_entries(data.get("resources", {}), exchange)
        raw_collections = data.get("collections", {})
        if not isinstance(raw_collections, dict):
            raise _invalid("download/latest 'collections' is not an object", exchange)
        collections = {}
        for collection_id, entry in raw_collections.items():
            if not isinstance(entry, dict):
                raise _invalid(f"download/latest collection {collection_id!r} is not an object", exchange)
            collections[collection_id] = _parse_latest_entries(entry.get("resources", {}), exchange)
        return LatestData(resources, collections)

    def clear(self) -> None:
        """"Reset / turn off everywhere" (§C3): all collections, then all resources; the session is gone."""
        self.delete_collection()
        self.delete_resources()
        self.clear_session()


class _NoRedirect(urllib.request.HTTPRedirectHandler):
    """The store never redirects; a redirect must surface as the status it is, not be followed silently."""

    def redirect_request(self, req: urllib.request.Request, fp: Any, code: int, msg: str, headers: Any,
                         newurl: str) -> None:
        return None


# -- the synchronizer side ------------------------------------------------------------------------------------

MergeFn = Callable[[str | None, str | None, str | None], str]
"""``merge(local, remote, base) -> merged``: the resource content (the envelope's ``content``, or the raw body
of a raw resource) on this machine, on the server, and as last synced; ``None`` where there is none."""


@dataclass
class Synced:
    """What a machine remembers of its last sync of one resource (``lastSyncUserData``)."""

    ref: str
    content: str | None  # the resource content (inside the envelope)
    body: str | None  # the exact text on the server


@dataclass
class SyncResult:
    resource: str
    collection: str | None
    read_remote: bool  # whether ``…/latest`` was requested (not skipped thanks to the manifest)
    wrote: bool
    conflicts: int  # 412/409 answers that led to a re-read and retry
    ref: str
    content: str


def envelope(version: int, machine_id: str | None, content: str) -> str:
    """§C5.2, serialized as the client's ``JSON.stringify`` does (no spaces)."""
    data: dict[str, Any] = {"version": version}
    if machine_id is not None:
        data["machineId"] = machine_id
    data["content"] = content
    return json.dumps(data, separators=(",", ":"))


def open_envelope(body: str, resource: str, local_version: int) -> tuple[int, str | None, str]:
    """The client's ``isSyncData`` and version check (§C5.2): ``(version, machineId, content)``."""
    try:
        data = json.loads(body)
    except ValueError as error:
        raise SyncStoreError(f"{resource}: remote data is not JSON", ErrorCode.INCOMPATIBLE_REMOTE_CONTENT,
                             resource=resource) from error
    valid = (isinstance(data, dict) and isinstance(data.get("version"), int) and not isinstance(data["version"], bool)
             and isinstance(data.get("content"), str)
             and (set(data) == {"version", "content"}
                  or (set(data) == {"version", "content", "machineId"} and isinstance(data["machineId"], str))))
    if not valid:
        raise SyncStoreError(f"{resource}: remote data is not a sync envelope: {body[:200]!r}",
                             ErrorCode.INCOMPATIBLE_REMOTE_CONTENT, resource=resource)
    if data["version"] > local_version:
        raise SyncStoreError(f"Cannot sync {resource}: local version {local_version} is not compatible with remote "
                             f"version {data['version']}", ErrorCode.INCOMPATIBLE_LOCAL_CONTENT, resource=resource)
    return data["version"], data.get("machineId"), data["content"]


def union_merge(local: str | None, remote: str | None, base: str | None) -> str:
    """A three-way merge of JSON objects (settings-like content): remote's keys, with this machine's own changes
    since ``base`` applied on top (a key changed locally wins; a key deleted locally is deleted)."""
    remote_obj: dict[str, Any] = json.loads(remote) if remote else {}
    if local is None:
        return json.dumps(remote_obj, sort_keys=True)
    local_obj: dict[str, Any] = json.loads(local)
    base_obj: dict[str, Any] = json.loads(base) if base else {}
    merged = dict(remote_obj)
    for key, value in local_obj.items():
        if key not in base_obj or base_obj[key] != value:
            merged[key] = value
    for key in base_obj:
        if key not in local_obj:
            merged.pop(key, None)
    return json.dumps(merged, sort_keys=True)


class Machine:
    """One installation of the editor signed in to the store: the synchronizer state of §C7."""

    def __init__(self, client: StoreClient, name: str, machine_id: str | None = None,
                 versions: Mapping[str, int] | None = None) -> None:
        self.client = client
        self.name = name
        self.machine_id = machine_id or str(uuid.uuid4())
        self.versions = dict(SYNCHRONIZER_VERSIONS if versions is None else versions)
        self.session: str | None = None  # the auto-sync service's remembered session
        self.manifest: Manifest | None = None  # cached manifest (its ref goes in If-None-Match)
        self.last_synced: dict[tuple[str | None, str], Synced] = {}
        self.local: dict[tuple[str | None, str], str] = {}
        self.profiles: list[dict[str, Any]] = []

    # local state
    def edit(self, resource: str, content: str, collection: str | None = None) -> None:
        self.local[(collection, resource)] = content

    def content(self, resource: str, collection: str | None = None) -> str | None:
        return self.local.get((collection, resource))

    def forget(self) -> None:
        """Sync turned off on this machine: no session, no last-synced state (local content stays)."""
        self.session = None
        self.manifest = None
        self.last_synced.clear()
        self.client.clear_session()

    def reset(self) -> None:
        """"Turn off everywhere / delete all data in the cloud" from this machine."""
        self.client.clear()
        self.forget()

    def read_manifest(self, headers: Mapping[str, str] | None = None) -> Manifest | None:
        """The manifest step of an auto-sync run, with its session checks (§C5.1, UAS)."""
        manifest = self.client.manifest(self.manifest, headers)
        if manifest is None and self.session is not None:
            # this machine synced before and the store has no data now: sync was turned off in the cloud
            self.manifest = None
            raise SyncStoreError("Cannot sync because syncing is turned off in the cloud", ErrorCode.TURNED_OFF)
        if manifest is not None and self.session is not None and manifest.session != self.session:
            self.manifest = manifest
            raise SyncStoreError(f"Session expired: {self.session} became {manifest.session}",
                                 ErrorCode.SESSION_EXPIRED)
        self.manifest = manifest
        return manifest

    def _content_of(self, resource: str, body: str | None) -> str | None:
        if body is None:
            return None
        if resource in RAW_RESOURCES:
            return body
        return open_envelope(body, resource, self.versions.get(resource, 1))[2]

    def _body_for(self, resource: str, content: str) -> str:
        if resource in RAW_RESOURCES:
            return content
        return envelope(self.versions.get(resource, 1), self.machine_id, content)

    def sync(self, resource: str, merge: MergeFn = union_merge, collection: str | None = None,
             max_attempts: int = 5) -> SyncResult:
        """One synchronizer run for one resource (§C7 steps 2-5 and 8)."""
        headers = {"X-Execution-Id": str(uuid.uuid4())}
        manifest = self.read_manifest(headers)
        key = (collection, resource)
        last = self.last_synced.get(key)
        latest_ref = manifest.latest_ref(resource, collection) if manifest is not None else None
        if last is not None and (last.ref == latest_ref or (latest_ref is None and last.body is None)):
            remote, read = RemoteData(last.ref, last.body), False  # unchanged since this machine synced it
        else:
            cached = RemoteData(last.ref, last.body) if last is not None else None
            remote, read = self.client.read_resource(resource, cached, collection, headers), True
        conflicts = 0
        while True:
            remote_content = self._content_of(resource, remote.content)
            merged = merge(self.local.get(key), remote_content, last.content if last is not None else None)
            if remote.content is not None and merged == remote_content:
                synced, wrote = Synced(remote.ref, remote_content, remote.content), False
                break
            body = self._body_for(resource, merged)
            try:
                ref = self.client.write_resource(resource, body, remote.ref, collection, headers)
            except SyncStoreError as error:
                retryable = error.code in (ErrorCode.PRECONDITION_FAILED, ErrorCode.CONFLICT)
                if not retryable or conflicts + 1 >= max_attempts:
                    raise
                conflicts += 1
                # rejected because there is a newer remote version: re-read bypassing the cache, merge again
                remote, read = self.client.read_resource(resource, None, collection, headers), True
                continue
            synced, wrote = Synced(ref, merged, body), True
            break
        self.last_synced[key] = synced
        self.local[key] = merged
        if self.session is None:  # first sync: pick up the session (§C7 step 8)
            picked = manifest if manifest is not None else self.read_manifest(headers)
            self.session = picked.session if picked is not None else None
        return SyncResult(resource, collection, read, wrote, conflicts, synced.ref, merged)

    # machines (§C7 step 7, UM)

    def machines_merge(self) -> MergeFn:
        def merge(local: str | None, remote: str | None, base: str | None) -> str:
            data: dict[str, Any] = json.loads(remote) if remote else {"version": 1, "machines": []}
            if data.get("version") != 1 or not isinstance(data.get("machines"), list):
                raise SyncStoreError(f"machines data has version {data.get('version')!r}",
                                     ErrorCode.INCOMPATIBLE_REMOTE_CONTENT, resource="machines")
            mine = next((m for m in data["machines"] if m.get("id") == self.machine_id), None)
            if mine is not None and mine.get("disabled"):
                raise SyncStoreError("Sync is turned off for this machine", ErrorCode.TURNED_OFF, resource="machines")
            if mine is None:
                data["machines"].append({"id": self.machine_id, "name": self.name})
            return json.dumps(data, separators=(",", ":"))
        return merge

    def sync_machines(self) -> SyncResult:
        return self.sync("machines", self.machines_merge())

    # profiles (§C7 step 6, §C4 profiles)

    def create_profile(self, name: str) -> str:
        """A new profile: a collection for its resources, then the ``profiles`` resource lists it."""
        if len(self.profiles) >= MAX_PROFILES:
            raise SyncStoreError("Too many profiles", ErrorCode.LOCAL_TOO_MANY_PROFILES, resource="profiles")
        collection = self.client.create_collection()
        self.profiles.append({"id": uuid.uuid4().hex[:8], "collection": collection, "name": name})
        self.sync("profiles", self.profiles_merge())
        return collection

    def profiles_merge(self) -> MergeFn:
        def merge(local: str | None, remote: str | None, base: str | None) -> str:
            remote_rows: list[dict[str, Any]] = json.loads(remote) if remote else []
            known = {row["collection"] for row in remote_rows}
            rows = remote_rows + [row for row in self.profiles if row["collection"] not in known]
            if len(rows) > MAX_PROFILES:
                raise SyncStoreError("Too many profiles", ErrorCode.LOCAL_TOO_MANY_PROFILES, resource="profiles")
            self.profiles = rows
            return json.dumps(rows, separators=(",", ":"))
        return merge


@dataclass
class EditSessions:
    """The Edit Sessions calls (§C8) through the same client: every write appends a ref, no If-Match."""

    client: StoreClient
    machine_id: str = field(default_factory=lambda: str(uuid.uuid4()))

    @staticmethod
    def _headers() -> dict[str, str]:
        return {"X-Execution-Id": str(uuid.uuid4())}  # a fresh one per call (§C2, §C8)

    def edit_session(self, files: Mapping[str, str], folder: str = "project") -> str:
        """An ``EditSession`` body (§C8, version 1: plain-text contents)."""
        changes = [{"relativeFilePath": path, "fileType": 1, "contents": text, "type": 1}
                   for path, text in files.items()]
        return json.dumps({"version": 1, "machine": self.machine_id, "folders": [
            {"name": folder, "canonicalIdentity": None, "absoluteUri": f"file:///work/{folder}",
             "workingChanges": changes}]})

    def write(self, content: str, resource: str = "editSessions") -> str:
        return self.client.write_resource(resource, content, None, headers=self._headers())

    def read(self, ref: str | None = None, resource: str = "editSessions") -> str | None:
        if ref is None:
            return self.client.read_resource(resource, None, headers=self._headers()).content
        return self.client.resolve_resource_content(resource, ref, headers=self._headers())

    def refs(self, resource: str = "editSessions") -> list[RefEntry]:
        return self.client.get_all_resource_refs(resource, headers=self._headers())

    def delete(self, ref: str | None, resource: str = "editSessions") -> None:
        self.client.delete_resource(resource, ref)
