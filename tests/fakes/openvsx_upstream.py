"""A fake upstream registry on 127.0.0.1 answering the Open VSX read API's shapes (docs/protocols/open-vsx.md) from
packages the test adds, with faults on demand: a status (and ``Retry-After``) for the next N requests of a path or
for all of them, a download cut short of its ``Content-Length``, bytes swapped after the digest was published, a
redirect to anywhere. Packages can be signed in this marketplace's repository signature format."""

from __future__ import annotations

import contextlib
import hashlib
import io
import json
import threading
import zipfile
from collections.abc import Iterator
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qs, unquote, urlsplit

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from marketplace.catalog.semver import Version
from marketplace.publishing import importer, signing


@dataclass
class Fault:
    status: int = 200
    headers: dict[str, str] = field(default_factory=dict)
    truncate: int | None = None  # send only this many bytes of the body (the full Content-Length is announced)
    body: bytes | None = None  # answer this instead
    redirect: str | None = None  # a 302 to this location


@dataclass
class Package:
    data: bytes
    namespace: str
    name: str
    version: str
    target_platform: str
    pre_release: bool
    dependencies: list[str]
    pack: list[str]
    signature: bytes | None = None
    public_key: bytes | None = None

    @property
    def stem(self) -> str:
        platform = "" if self.target_platform == "universal" else f"@{self.target_platform}"
        return f"{self.namespace}.{self.name}-{self.version}{platform}"


def signer(private: Ed25519PrivateKey | None = None) -> signing.SigningKey:
    from cryptography.hazmat.primitives import serialization

    private = private or Ed25519PrivateKey.generate()
    public_pem = private.public_key().public_bytes(serialization.Encoding.PEM,
                                                   serialization.PublicFormat.SubjectPublicKeyInfo)
    return signing.SigningKey(hashlib.sha256(public_pem).hexdigest()[:16], private, public_pem)


class FakeUpstream:
    def __init__(self) -> None:
        self.packages: list[Package] = []
        self.faults: dict[str, list[Fault]] = {}  # path -> the faults of its next requests, in order
        self.always: dict[str, Fault] = {}  # path -> the fault of every request
        self.swapped: dict[str, bytes] = {}  # download path -> other bytes served (the digest stays)
        self.log: list[str] = []  # every path requested, with its query
        self.lock = threading.Lock()
        self.base = ""
        self.key = signer()

    # ----------------------------------------------------------------------------------------- content

    def add(self, data: bytes, *, pre_release: bool = False, signed: bool = True,
            key: signing.SigningKey | None = None, publish_key: bool = True) -> Package:
        """A package as the upstream has it; ``key`` signs it instead of the upstream's own key (whose public
        key is the one published), ``publish_key=False`` leaves ``publicKey`` out."""
        found = importer.peek(data)
        with zipfile.ZipFile(io.BytesIO(data)) as archive:
            manifest = json.loads(archive.read("extension/package.json"))
        package = Package(data, found.publisher, found.name, found.version, found.target_platform, pre_release,
                          list(manifest.get("extensionDependencies") or []), list(manifest.get("extensionPack") or []))
        if signed:
            signing_key = key or self.key
            package.signature = signing.signature_archive(
                signing_key, found.publisher, found.name, found.version, found.target_platform, len(data),
                hashlib.sha256(data).hexdigest())
            package.public_key = self.key.public_pem if publish_key else None
        self.packages.append(package)
        return package

    def _of(self, namespace: str, name: str) -> list[Package]:
        found = [p for p in self.packages if (p.namespace.lower(), p.name.lower()) == (namespace.lower(), name.lower())]
        return sorted(sorted(found, key=lambda p: (p.target_platform != "universal", p.target_platform)),
                      key=lambda p: Version(p.version), reverse=True)

    def download_path(self, package: Package) -> str:
        return f"/files/{package.stem}.vsix"

    def _files(self, package: Package) -> dict[str, str]:
        files = {"download": f"{self.base}{self.download_path(package)}",
                 "sha256": f"{self.base}/files/{package.stem}.sha256"}
        if package.signature is not None:
            files["signature"] = f"{self.base}/files/{package.stem}.sigzip"
            if package.public_key is not None:
                files["publicKey"] = f"{self.base}/keys/{self.key.key_id}.pem"
        return files

    def extension_json(self, package: Package) -> dict[str, Any]:
        builds = self._of(package.namespace, package.name)
        numbers = list(dict.fromkeys(p.version for p in builds))
        api = f"{self.base}/api/{package.namespace}/{package.name}"
        return {
            "namespace": package.namespace, "name": package.name, "version": package.version,
            "targetPlatform": package.target_platform, "preRelease": package.pre_release,
            "files": self._files(package),
            "allVersions": {"latest": api, **{n: f"{api}/{n}" for n in numbers}},
            "allVersionsUrl": f"{api}/versions",
            "downloads": {p.target_platform: f"{self.base}{self.download_path(p)}" for p in builds
                          if p.version == package.version},
            "allTargetPlatformVersions": [{"version": n, "targetPlatforms": [p.target_platform for p in builds
                                                                            if p.version == n]} for n in numbers],
            "dependencies": [_reference(self.base, r) for r in package.dependencies],
            "bundledExtensions": [_reference(self.base, r) for r in package.pack],
            "downloadCount": 1234, "reviewCount": 7, "averageRating": 4.5,
        }

    # ------------------------------------------------------------------------------------------ answers

    def answer(self, path: str, query: dict[str, list[str]]) -> tuple[int, dict[str, str], bytes]:
        def json_answer(value: Any, status: int = 200) -> tuple[int, dict[str, str], bytes]:
            return status, {"Content-Type": "application/json"}, json.dumps(value).encode()

        missing = json_answer({"error": "not found"}, 404)
        if path == "/api/-/search":
            size, offset = int(query.get("size", ["18"])[0]), int(query.get("offset", ["0"])[0])
            ids = list(dict.fromkeys((p.namespace, p.name) for p in self.packages))
            entries = [{"namespace": ns, "name": n, "version": self._of(ns, n)[0].version,
                        "url": f"{self.base}/api/{ns}/{n}"} for ns, n in ids[offset: offset + size]]
            return json_answer({"offset": offset, "totalSize": len(ids), "extensions": entries})
        if path.startswith("/files/"):
            for package in self.packages:
                if path == f"/files/{package.stem}.vsix":
                    return 200, {"Content-Type": "application/octet-stream"}, self.swapped.get(path, package.data)
                if path == f"/files/{package.stem}.sha256":
                    return 200, {"Content-Type": "text/plain"}, hashlib.sha256(package.data).hexdigest().encode()
                if path == f"/files/{package.stem}.sigzip" and package.signature is not None:
                    return 200, {"Content-Type": "application/zip"}, package.signature
            return 404, {}, b""
        if path == f"/keys/{self.key.key_id}.pem":
            return 200, {"Content-Type": "application/x-pem-file"}, self.key.public_pem
        if not path.startswith("/api/"):
            return missing
        segments = [unquote(s) for s in path[len("/api/"):].split("/")]
        if len(segments) == 1:
            names = sorted({p.name for p in self.packages if p.namespace.lower() == segments[0].lower()})
            if not names:
                return missing
            return json_answer({"name": segments[0], "extensions": {
                n: f"{self.base}/api/{segments[0]}/{n}" for n in names}})
        builds = self._of(segments[0], segments[1])
        rest = segments[2:]
        platform = rest.pop(0) if rest and not rest[0][:1].isdigit() and rest[0] not in ("versions", "latest") \
            else None
        if rest == ["versions"]:
            numbers = list(dict.fromkeys(p.version for p in builds))
            size, offset = int(query.get("size", ["18"])[0]), int(query.get("offset", ["0"])[0])
            return json_answer({"offset": offset, "totalSize": len(numbers), "versions": {
                n: f"{self.base}/api/{segments[0]}/{segments[1]}/{n}" for n in numbers[offset: offset + size]}})
        chosen = [p for p in builds if platform is None or p.target_platform == platform]
        if rest:
            chosen = [p for p in chosen if p.version == rest[0]]
        if not chosen:
            return missing
        return json_answer(self.extension_json(chosen[0]))

    # --------------------------------------------------------------------------------------------- faults

    def fail(self, path: str, *faults: Fault) -> None:
        self.faults.setdefault(path, []).extend(faults)

    def fault_for(self, path: str) -> Fault | None:
        with self.lock:
            queued = self.faults.get(path)
            if queued:
                return queued.pop(0)
        return self.always.get(path)

    def requests_to(self, prefix: str) -> list[str]:
        with self.lock:
            return [p for p in self.log if p.startswith(prefix)]


def _reference(base: str, reference: str) -> dict[str, str]:
    namespace, _, name = reference.partition(".")
    return {"url": f"{base}/api/{namespace}/{name}", "namespace": namespace, "extension": name}


def _handler(upstream: FakeUpstream) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

        def log_message(self, format: str, *args: Any) -> None:
            return

        def do_GET(self) -> None:
            parts = urlsplit(self.path)
            with upstream.lock:
                upstream.log.append(self.path)
            fault = upstream.fault_for(parts.path)
            if fault is not None and fault.redirect is not None:
                self._send(302, {"Location": fault.redirect}, b"")
                return
            status, headers, body = upstream.answer(parts.path, parse_qs(parts.query))
            if fault is not None:
                status = fault.status if fault.status != 200 else status
                headers = {**headers, **fault.headers}
                body = fault.body if fault.body is not None else body
                if fault.truncate is not None:
                    self._send(status, headers, body, cut=fault.truncate)
                    return
            self._send(status, headers, body)

        def _send(self, status: int, headers: dict[str, str], body: bytes, cut: int | None = None) -> None:
            self.send_response(status)
            for name, value in headers.items():
                self.send_header(name, value)
            self.send_header("Content-Length", str(len(body)))
            if cut is not None:
                self.send_header("Connection", "close")
            self.end_headers()
            self.wfile.write(body if cut is None else body[:cut])
            if cut is not None:
                self.close_connection = True

    return Handler


@contextlib.contextmanager
def serving(upstream: FakeUpstream | None = None) -> Iterator[FakeUpstream]:
    upstream = upstream or FakeUpstream()
    server = ThreadingHTTPServer(("127.0.0.1", 0), _handler(upstream))
    server.daemon_threads = True
    upstream.base = f"http://127.0.0.1:{server.server_address[1]}"
    thread = threading.Thread(target=server.serve_forever, name="fake-upstream", daemon=True)
    thread.start()
    try:
        yield upstream
    finally:
        server.shutdown()
        server.server_close()
