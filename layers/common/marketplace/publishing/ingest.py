"""The ingest pipeline: from an S3 upload notification to a published version, or to a rejection with a
reason the publisher can act on. Nothing half-written survives either way.

Order of work for one uploaded object:

1. The object must belong to an open upload record (else it is deleted at once).
2. Size, then the package itself: ``vsix.inspect_archive`` validates the archive in one streaming pass
   (which also yields the SHA-256 compared with the declared one), ``manifest.read_package`` the
   manifests and metadata.
3. The token that started the upload must still be valid and cover the package's namespace; the
   (version, target platform) must not be published yet; the publish-time scan (``scanning``) must not
   refuse the package (its warnings are kept on the upload record).
4. The assets are written under a prefix unique to this upload, the package is copied next to them and
   signed with the repository key (``signing``), and the version is recorded in one conditional
   transaction; only then is the upload marked ``published``. A version the scan quarantines is written the
   same way, flagged ``quarantined`` (no reader offers it until it is confirmed: ``lifecycle``), and the
   upload is marked ``quarantined`` with the verdict as its reason.
   If the record cannot be written, the assets are deleted again.

Redelivery is harmless: a settled upload is skipped, and a version recorded by this same upload counts
as success.
"""

from __future__ import annotations

import hashlib
import mimetypes
import re
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import unquote_plus

from marketplace.catalog import store as catalog
from marketplace.platform.errors import MarketplaceError
from marketplace.platform.resources import PACKAGES_BUCKET
from marketplace.publishing import audit, manifest, objects, scanning, service, signing, store, tokens, uploads, vsix
from marketplace.publishing.vsix import Rejected

UPLOAD_ID = re.compile(r"^[A-Za-z0-9][A-Za-z0-9-]{0,63}$")
PACKAGE_ASSET = "Microsoft.VisualStudio.Services.VSIXPackage"
WEB_RESOURCES = "Microsoft.VisualStudio.Code.WebResources"
INTERNAL_FAILURE = "the package could not be processed because of an internal error; please upload it again"
_CONTENT_TYPES = {
    manifest.ASSET_MANIFEST: "application/json",
    manifest.ASSET_VSIXMANIFEST: "text/xml; charset=utf-8",
    PACKAGE_ASSET: uploads.CONTENT_TYPE,
}
_WRITE_ATTEMPTS = 3
QUARANTINED = "quarantined"  # the upload's status when the scan holds its version back for a decision
_MAX_WARNINGS = 50  # scan warnings kept on an upload record (the item must stay small)


class MalformedNotification(ValueError):
    """The message is not an S3 event notification."""


@dataclass(frozen=True)
class UploadedObject:
    bucket: str
    key: str
    size: int
    upload_id: str | None  # None when the key cannot be an upload id


@dataclass(frozen=True)
class Outcome:
    key: str
    status: str  # published | quarantined | rejected | removed | skipped
    reason: str
    code: str | None = None


def uploaded_objects(notification: Mapping[str, Any], upload_prefix: str) -> list[UploadedObject]:
    """The ``ObjectCreated`` objects under ``upload_prefix`` that a notification names (none for a test event)."""
    if notification.get("Event") == "s3:TestEvent":
        return []
    records = notification.get("Records")
    if not isinstance(records, list):
        raise MalformedNotification("no Records list in the S3 notification")
    found: list[UploadedObject] = []
    for record in records:
        try:
            if not str(record["eventName"]).startswith("ObjectCreated:"):
                continue
            bucket = str(record["s3"]["bucket"]["name"])
            key = unquote_plus(str(record["s3"]["object"]["key"]))  # S3 URL-encodes keys in events
            size = int(record["s3"]["object"].get("size", 0))
        except (KeyError, TypeError, ValueError) as error:
            raise MalformedNotification(f"S3 record without {error}") from error
        if not key.startswith(upload_prefix):
            continue
        candidate = key[len(upload_prefix):]
        found.append(UploadedObject(bucket, key, size, candidate if UPLOAD_ID.match(candidate) else None))
    return found


def settle(obj: UploadedObject, *, final_attempt: bool = False) -> Outcome:
    """Publish or reject one uploaded object. Transient failures raise (the message is delivered again),
    except on the final attempt, when the upload is rejected rather than left open."""
    record = store.find_upload(obj.upload_id) if obj.upload_id else None
    if record is None:
        objects.delete(obj.key)
        return Outcome(obj.key, "removed", "no upload record for this object")
    if record.status not in store.OPEN_STATES:
        if record.status == "rejected":
            objects.delete(obj.key)
        return Outcome(obj.key, "skipped", f"upload already {record.status}")
    try:
        version = _publish(record, obj)
    except Rejected as rejected:
        return _reject(record, obj, rejected.reason, rejected.code)
    except MarketplaceError as refused:
        return _reject(record, obj, refused.message, refused.code)
    except Exception:
        if not final_attempt:
            raise
        return _reject(record, obj, INTERNAL_FAILURE, "internal")
    objects.delete(obj.key)
    return Outcome(obj.key, QUARANTINED if version.quarantined else "published",
                   f"{version.extension_id} {version.version} ({version.target_platform})")


def _reject(record: store.UploadRecord, obj: UploadedObject, reason: str, code: str) -> Outcome:
    store.settle_upload(record, "rejected", reason)
    objects.delete(obj.key)
    return Outcome(obj.key, "rejected", reason, code)


def _file_sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as handle:
        while chunk := handle.read(objects.CHUNK):
            digest.update(chunk)
    return digest.hexdigest()


def _inspect(record: store.UploadRecord, obj: UploadedObject) -> tuple[vsix.Archive, manifest.PackageInfo, Path]:
    declared = int(record.size or 0)
    if obj.size and obj.size != declared:
        raise Rejected("upload.size", f"the uploaded object is {obj.size} bytes but the upload declared {declared}")
    if declared > uploads.max_upload_bytes():
        raise Rejected("upload.too_large", f"the package is {declared} bytes; at most "
                                           f"{uploads.max_upload_bytes()} bytes are accepted")
    downloaded = objects.download(obj.key, declared)
    try:  # the caller removes the file once the package is handled; here, only when it never gets it
        if downloaded.truncated or downloaded.size != declared:
            raise Rejected("upload.size", f"the uploaded object is not the {declared} bytes the upload declared")
        try:
            archive = vsix.inspect_archive(downloaded.path, keep=manifest.wanted)
        except Rejected:
            if _file_sha256(downloaded.path) != record.sha256:  # the wrong file: say that, not why it is bad
                raise Rejected("upload.sha256", "the uploaded bytes do not match the SHA-256 the upload declared") \
                    from None
            raise
        if archive.sha256 != record.sha256:
            raise Rejected("upload.sha256", "the uploaded bytes do not match the SHA-256 the upload declared")
        return archive, manifest.read_package(archive), downloaded.path
    except BaseException:
        downloaded.path.unlink(missing_ok=True)
        raise


def already_published(package: manifest.PackageInfo) -> str:
    """Open VSX's wording, which ``ovsx publish --skip-duplicate`` recognises."""
    target = "" if package.target_platform == manifest.UNIVERSAL else f"@{package.target_platform}"
    return f"Extension {package.id}{target}-{package.version} is already published."


def _publish(record: store.UploadRecord, obj: UploadedObject) -> catalog.VersionItem:
    store.settle_upload_progress(record, "validating")
    archive, package, path = _inspect(record, obj)
    try:
        principal = service.principal_of(record.token_id)
        namespace = service.authorize(principal, package.namespace)
        existing = catalog.get_version(package.id, package.version, package.target_platform)
        if existing is not None and existing.upload_id != record.upload_id:
            raise Rejected("version.exists", already_published(package))
        warnings, held = _scan(record, archive, package, principal) if existing is None else ([], None)
        base = (f"{PACKAGES_BUCKET.public_prefix}{package.namespace}/{package.extension}/{package.version}/"
                f"{package.target_platform}/{record.upload_id}")
        written: list[str] = []
        try:
            version = existing or _write(record, obj, archive, package, base, principal.user, written,
                                         verified=bool(namespace.verified), quarantine_reason=held)
        except BaseException:
            if written:
                objects.delete_keys(written)
            raise
    finally:
        path.unlink(missing_ok=True)
    if version.quarantined:  # held back by the scan (also on a redelivery after it was stored)
        store.settle_upload(record, QUARANTINED, version.quarantine_reason, extension_id=package.id,
                            version=package.version, target_platform=package.target_platform,
                            warnings=warnings or None)
    else:
        store.settle_upload(record, "published", None, extension_id=package.id, version=package.version,
                            target_platform=package.target_platform, warnings=warnings or None)
    with audit.acting(audit.Actor(record.user or audit.UNKNOWN.user, record.client or audit.UNKNOWN.client)):
        service.record(package.namespace, "extension.quarantine" if version.quarantined else "extension.publish",
                       package.id, {"version": package.version, "targetPlatform": package.target_platform,
                                    "upload": record.upload_id, "sha256": archive.sha256,
                                    **({"reason": version.quarantine_reason} if version.quarantined else {})},
                       at=version.published_at, entry_id=record.upload_id)  # once, however often delivered
    return version


def _scan(record: store.UploadRecord, archive: vsix.Archive, package: manifest.PackageInfo,
          principal: service.Principal) -> tuple[list[str], str | None]:
    """Run the publish-time scanners: a rejecting finding refuses the upload; the warnings are returned (as
    ``describe()`` lines) to be kept on the upload record, with the quarantine reason when the verdict holds
    the version back (``None`` when it publishes)."""
    verdict = scanning.scan(scanning.Subject(archive, package, archive.sha256, principal, record.upload_id))
    if verdict.action == scanning.REJECT:
        raise Rejected("scan", verdict.reason())
    held = verdict.reason() if verdict.action == scanning.QUARANTINE else None
    shown = verdict.warnings if held else verdict.findings
    return [finding.describe() for finding in shown[:_MAX_WARNINGS]], held


def _write(record: store.UploadRecord, obj: UploadedObject, archive: vsix.Archive, package: manifest.PackageInfo,
           base: str, user: str, written: list[str], *, verified: bool = False,
           quarantine_reason: str | None = None) -> catalog.VersionItem:
    assets: dict[str, str] = {}
    for asset_type, data in package.asset_bytes.items():
        content_type = _CONTENT_TYPES.get(asset_type) or _guess(package.assets.get(asset_type, ""), data)
        key = f"{base}/{asset_type}"
        written.append(key)
        objects.put_asset(key, data, content_type)
        assets[asset_type] = content_type
    for name in package.web_resources:
        entry = archive.get(name)
        if entry is None:
            continue
        key = f"{base}/{WEB_RESOURCES}/{name}"
        written.append(key)
        objects.put_asset(key, b"".join(vsix.iter_entry(archive, entry)), _guess(name, b""))
    if package.web_resources:
        assets[WEB_RESOURCES] = "application/octet-stream"
    package_key = f"{base}/{PACKAGE_ASSET}"
    written.append(package_key)
    objects.copy_package(obj.key, package_key, uploads.CONTENT_TYPE)
    assets[PACKAGE_ASSET] = uploads.CONTENT_TYPE
    signer = signing.signing_key()
    signature = signing.signature_archive(signer, package.namespace, package.extension, package.version,
                                          package.target_platform, archive.file_size, archive.sha256)
    # also under VS Code's name, so a gallery that lists it (GALLERY_ADVERTISE_VSIX_SIGNATURE) serves it at
    # {assetUri}/Microsoft.VisualStudio.Services.VsixSignature from the CDN as well as through the API
    for name in (signing.ASSET, signing.VSIX_SIGNATURE_ALIAS):
        written.append(f"{base}/{name}")
        objects.put_asset(f"{base}/{name}", signature, "application/zip")
    assets[signing.ASSET] = "application/zip"
    new = catalog.NewVersion(
        publisher=package.namespace, name=package.extension, version=package.version,
        target_platform=package.target_platform, pre_release=package.pre_release, engine=package.engine,
        sha256=archive.sha256, size=archive.file_size, asset_base=base, assets=assets,
        upload_id=record.upload_id, published_by=user, published_at=tokens.utcnow(),
        display_name=package.display_name, description=package.description,
        dependencies=list(package.dependencies), extension_pack=list(package.extension_pack),
        extension_kind=list(package.extension_kind), categories=list(package.categories), tags=list(package.tags),
        localized_languages=list(package.localized_languages),
        enabled_api_proposals=list(package.enabled_api_proposals), executes_code=package.executes_code,
        web_extension=package.web_extension, web_resource_count=len(package.web_resources),
        license=package.license, repository=package.repository, homepage=package.homepage, bugs=package.bugs,
        signature_key_id=signer.key_id, verified=verified, quarantined=quarantine_reason is not None,
        quarantine_reason=quarantine_reason,
    )
    for attempt in range(_WRITE_ATTEMPTS):
        try:
            return catalog.record_version(new)
        except catalog.VersionExists as exists:
            if exists.upload_id == record.upload_id:  # our own earlier delivery got there first
                found = catalog.get_version(package.id, package.version, package.target_platform)
                if found is not None:
                    written.clear()  # these assets are the published ones: keep them
                    return found
            raise Rejected("version.exists", already_published(package)) from exists
        except catalog.ConcurrentChange:
            if attempt == _WRITE_ATTEMPTS - 1:
                raise
    raise AssertionError("unreachable")


def _guess(name: str, data: bytes) -> str:
    if data.startswith(b"\x89PNG"):
        return "image/png"
    if data.startswith(b"\xff\xd8\xff"):
        return "image/jpeg"
    lowered = name.lower()
    if lowered.endswith((".md", ".markdown")):
        return "text/markdown; charset=utf-8"
    if lowered.endswith(".txt") or "license" in lowered.rsplit("/", 1)[-1]:
        return "text/plain; charset=utf-8"
    guessed = mimetypes.guess_type(name)[0]
    return guessed or "application/octet-stream"
