"""The Settings Sync store protocol's rules, as plain Python (docs/protocols/settings-sync.md).

Names, refs and collection ids are validated here; the manifest, ref list and ``download/latest`` bodies are
shaped here. Nothing in this module touches AWS.
"""

from __future__ import annotations

import hashlib
import json
import re
import secrets
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field

from marketplace.platform.errors import BadRequest

ROOT = "-"
"""The scope of resources outside any profile collection."""

NO_REF = "0"
"""The ETag of "no data" (a 204 manifest or a missing resource), and the current ref of a missing resource
when a client sends ``If-Match`` (C3.1)."""

# Newer clients add resources (``prompts``, ``mcp``): any short ASCII word is a resource (C4).
_RESOURCE = re.compile(r"[A-Za-z]{1,32}")
# Refs this store issues: ``<sequence>-<8 hex>``. The sequence orders a resource's history; the random part
# keeps a ref from ever meaning two documents (after a reset the sequence may start again).
_REF = re.compile(r"([1-9][0-9]{0,11})-([0-9a-f]{8})")
_COLLECTION = re.compile(r"[0-9a-f]{32}")


def resource_name(value: str) -> str:
    if not _RESOURCE.fullmatch(value):
        raise BadRequest(f"Invalid resource name {value[:40]!r}: a resource is 1 to 32 ASCII letters")
    return value


def collection_id(value: str) -> str:
    if not _COLLECTION.fullmatch(value):
        raise BadRequest(f"Invalid collection id {value[:40]!r}: collection ids are what POST /v1/collection returned")
    return value


def new_collection_id() -> str:
    return secrets.token_hex(16)


def new_session() -> str:
    return secrets.token_hex(16)


def make_ref(sequence: int) -> str:
    return f"{sequence}-{secrets.token_hex(4)}"


def ref_sequence(ref: str) -> int:
    """The sequence number inside a ref; a malformed ref is the caller's error."""
    match = _REF.fullmatch(ref)
    if match is None:
        raise BadRequest(f"Invalid ref {ref[:40]!r}")
    return int(match.group(1))


def entity_tags(header: str | None) -> list[str]:
    """The refs in an ``If-Match``/``If-None-Match`` header. Clients send the bare ref they got as ``ETag``;
    quoted and weak forms are accepted too, so a proxy or browser cache that normalises them still matches."""
    if header is None:
        return []
    tags = []
    for part in header.split(","):
        tag = part.strip()
        if tag.startswith("W/"):
            tag = tag[2:]
        if len(tag) >= 2 and tag[0] == tag[-1] == '"':
            tag = tag[1:-1]
        if tag:
            tags.append(tag)
    return tags


def matches(header: str | None, current: str) -> bool:
    tags = entity_tags(header)
    return "*" in tags or current in tags


def decode_body(body: bytes) -> str:
    """A resource body is text: it must be valid UTF-8 (the store returns it byte for byte)."""
    try:
        return body.decode("utf-8")
    except UnicodeDecodeError as error:
        raise BadRequest(f"The body is not valid UTF-8 (byte {error.start})") from error


@dataclass(frozen=True)
class Head:
    """A resource's current state in one scope: the newest ref, and the window of refs still kept."""

    scope: str
    resource: str
    sequence: int
    latest: str | None
    latest_created: int | None = None
    cleared: int = 0  # refs with a sequence up to this were deleted with the whole resource

    def oldest_kept(self, history: int) -> int:
        """The smallest sequence still readable: the newest ``history`` refs, none from before a clear."""
        return max(self.sequence - history, self.cleared) + 1


@dataclass
class Manifest:
    session: str
    latest: dict[str, str] = field(default_factory=dict)
    collections: dict[str, dict[str, str]] = field(default_factory=dict)

    def body(self) -> dict[str, object]:
        return {
            "session": self.session,
            "latest": dict(sorted(self.latest.items())),
            "collections": {
                cid: {"latest": dict(sorted(refs.items()))} for cid, refs in sorted(self.collections.items())
            },
        }

    def etag(self) -> str:
        """The manifest's ref: a digest of what it says, so it changes with any resource, collection or session."""
        canonical = json.dumps(self.body(), sort_keys=True, separators=(",", ":")).encode()
        return hashlib.sha256(canonical).hexdigest()[:32]


def build_manifest(session: str, heads: Iterable[Head], collections: Iterable[str]) -> Manifest:
    manifest = Manifest(session=session, collections={cid: {} for cid in collections})
    for head in heads:
        if head.latest is None:
            continue
        if head.scope == ROOT:
            manifest.latest[head.resource] = head.latest
        elif head.scope in manifest.collections:
            manifest.collections[head.scope][head.resource] = head.latest
    return manifest


def resource_path(scope: str, resource: str) -> str:
    if scope == ROOT:
        return f"/v1/resource/{resource}"
    return f"/v1/collection/{scope}/resource/{resource}"


def ref_list(base_path: str, scope: str, resource: str, refs: Iterable[tuple[str, int]]) -> list[dict[str, object]]:
    """``[{"url": "<resource path>/<ref>", "created": <seconds>}]``, newest first (C5.3). ``base_path`` is the
    store's path prefix (``/sync``), so ``url`` is the path the client would request."""
    path = f"{base_path.rstrip('/')}{resource_path(scope, resource)}"
    return [{"url": f"{path}/{ref}", "created": created} for ref, created in refs]


def latest_data(
    root: Mapping[str, tuple[str, str]], collections: Mapping[str, Mapping[str, tuple[str, str]]]
) -> dict[str, object]:
    """``GET /v1/download/latest`` (C5.4): each resource as a one-element list of ``{ref, content}``."""

    def resources(items: Mapping[str, tuple[str, str]]) -> dict[str, list[dict[str, str]]]:
        return {name: [{"ref": ref, "content": content}] for name, (ref, content) in sorted(items.items())}

    return {
        "resources": resources(root),
        "collections": {cid: {"resources": resources(items)} for cid, items in sorted(collections.items())},
    }
