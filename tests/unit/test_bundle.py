"""Air-gapped bundles (``marketplace.mirror.bundle``): keys, the writer (the mirror's sink), and the reader, which
treats the archive as hostile: every fault refuses the whole bundle before anything is imported."""

from __future__ import annotations

import base64
import hashlib
import io
import json
import stat
import tarfile
import threading
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from marketplace.mirror import bundle
from marketplace.platform.errors import BadRequest, Conflict
from marketplace.publishing import importer

UPSTREAM = "https://open-vsx.example"


@dataclass(frozen=True)
class FakeVersion:
    publisher: str
    name: str
    version: str
    target_platform: str = "universal"
    metadata: dict[str, Any] = field(default_factory=dict)


class FakeImport:
    """Stands in for ``importer.import_package``: records every call."""

    def __init__(self, status: str = "published") -> None:
        self.calls: list[dict[str, Any]] = []
        self.status = status
        self._lock = threading.Lock()

    def __call__(self, data: bytes, **kwargs: Any) -> importer.Outcome:
        with self._lock:
            self.calls.append({"data": data, **kwargs})
        return importer.Outcome(kwargs["source"], self.status, reason=None)


@pytest.fixture
def keys(tmp_path: Path) -> tuple[Path, Path]:
    directory = tmp_path / "keys"
    bundle.generate_keys(directory)
    return directory / bundle.PRIVATE_KEY_FILE, directory / bundle.PUBLIC_KEY_FILE


def private_key(path: Path) -> Ed25519PrivateKey:
    return bundle.load_signing_key(path)


# ------------------------------------------------------------------------------------------------------ keys


def test_keygen_writes_a_private_key_only_its_owner_reads_and_a_public_key(tmp_path: Path):
    key_id = bundle.generate_keys(tmp_path / "k")
    private, public = tmp_path / "k" / bundle.PRIVATE_KEY_FILE, tmp_path / "k" / bundle.PUBLIC_KEY_FILE
    assert stat.S_IMODE(private.stat().st_mode) == 0o600
    assert private.read_bytes().startswith(b"-----BEGIN PRIVATE KEY-----")
    assert public.read_bytes().startswith(b"-----BEGIN PUBLIC KEY-----")
    der = bundle.load_trusted_key(public).public_bytes(serialization.Encoding.DER,
                                                       serialization.PublicFormat.SubjectPublicKeyInfo)
    assert key_id == hashlib.sha256(der).hexdigest()[:16]
    assert bundle.key_id(bundle.load_signing_key(private).public_key()) == key_id


def test_keygen_never_overwrites(tmp_path: Path):
    bundle.generate_keys(tmp_path)
    before = (tmp_path / bundle.PRIVATE_KEY_FILE).read_bytes(), (tmp_path / bundle.PUBLIC_KEY_FILE).read_bytes()
    with pytest.raises(Conflict, match="never overwrites"):
        bundle.generate_keys(tmp_path)
    (tmp_path / bundle.PRIVATE_KEY_FILE).unlink()  # one of the two left: still refused, the other untouched
    with pytest.raises(Conflict):
        bundle.generate_keys(tmp_path)
    assert not (tmp_path / bundle.PRIVATE_KEY_FILE).exists()
    assert (tmp_path / bundle.PUBLIC_KEY_FILE).read_bytes() == before[1]


def test_keygen_command_prints_the_key_id(tmp_path: Path, capsys: pytest.CaptureFixture[str]):
    from marketplace import cli

    assert cli.main(["bundle", "keygen", "--out", str(tmp_path / "k")]) == 0
    printed = capsys.readouterr().out.strip()
    assert printed == bundle.key_id(bundle.load_trusted_key(tmp_path / "k" / bundle.PUBLIC_KEY_FILE))
    assert cli.main(["bundle", "keygen", "--out", str(tmp_path / "k")]) == 1
    assert "never overwrites" in capsys.readouterr().err


def test_keys_of_the_wrong_kind_are_refused(tmp_path: Path, keys: tuple[Path, Path]):
    with pytest.raises(BadRequest, match="private key"):
        bundle.load_signing_key(keys[1])
    with pytest.raises(BadRequest, match="public key"):
        bundle.load_trusted_key(keys[0])
    with pytest.raises(BadRequest, match="cannot read"):
        bundle.load_trusted_key(tmp_path / "missing.pub")


# ------------------------------------------------------------------------------------- writer and round trip


def write_sample(path: Path, signing_key: Path, allow: str | None = "somepub.*\n") -> dict[str, bytes]:
    packages = {"packages/somepub.hello-1.0.0@universal.vsix": b"PK hello" * 1000,
                "packages/somepub.hello-1.0.0@linux-x64.vsix": b"PK linux",
                "packages/other.pack-2.1.0@universal.vsix": b"PK pack"}
    with bundle.BundleSink(path, signing_key=signing_key, allow_text=allow, upstream=UPSTREAM) as sink:
        outcomes = [
            sink.accept(packages["packages/somepub.hello-1.0.0@universal.vsix"],
                        FakeVersion("somepub", "hello", "1.0.0", metadata={"version": "1.0.0", "downloadCount": 7,
                                                                          "averageRating": 4.5, "reviewCount": 2})),
            sink.accept(packages["packages/somepub.hello-1.0.0@linux-x64.vsix"],
                        FakeVersion("somepub", "hello", "1.0.0", "linux-x64")),
            sink.accept(packages["packages/other.pack-2.1.0@universal.vsix"], FakeVersion("other", "pack", "2.1.0")),
        ]
    assert [o.status for o in outcomes] == ["published"] * 3
    assert {o.reason for o in outcomes} == {"written to the bundle"}
    assert outcomes[0].extension_id == "somepub.hello" and outcomes[1].target_platform == "linux-x64"
    return packages


def test_round_trip_imports_every_package_with_the_upstream(tmp_path: Path, keys: tuple[Path, Path]):
    path = tmp_path / "out" / "mirror.mkpbundle"
    packages = write_sample(path, keys[0])
    fake, seen = FakeImport(), []
    outcomes = bundle.import_bundle(path, trusted_key=keys[1], jobs=2, import_package=fake,
                                    progress=lambda done, total: seen.append((done, total)))
    assert [o.source for o in outcomes] == [f"{path}:{name}" for name in sorted(packages)]
    assert seen == [(0, 3), (1, 3), (2, 3), (3, 3)]
    assert {call["source"]: call["data"] for call in fake.calls} == {f"{path}:{n}": d for n, d in packages.items()}
    for call in fake.calls:
        assert call["create_namespaces"] is True and call["mirrored_from"] == UPSTREAM
        assert call["client"] == importer.IMPORT_CLIENT
    assert [p.name for p in path.parent.iterdir()] == ["mirror.mkpbundle"]  # no temporary file left


def test_the_archive_is_a_plain_tar_with_the_signed_manifest_first(tmp_path: Path, keys: tuple[Path, Path]):
    path = tmp_path / "b.mkpbundle"
    packages = write_sample(path, keys[0])
    with tarfile.open(path) as archive:
        members = archive.getmembers()
        names = [m.name for m in members]
        assert names[:2] == [bundle.MANIFEST_MEMBER, bundle.SIGNATURE_MEMBER]
        assert all(m.isreg() and m.mode == 0o644 for m in members)
        manifest_bytes = archive.extractfile(members[0]).read()  # type: ignore[union-attr]
        signature = archive.extractfile(members[1]).read()  # type: ignore[union-attr]
        allow = archive.extractfile(bundle.ALLOW_MEMBER).read()  # type: ignore[union-attr]
        metadata = archive.extractfile("metadata/somepub.hello-1.0.0@universal.json").read()  # type: ignore[union-attr]
    manifest = json.loads(manifest_bytes)
    assert bundle.canonical_json(manifest) == manifest_bytes
    assert manifest["format"] == 1 and manifest["upstream"] == UPSTREAM
    assert manifest["keyId"] == bundle.key_id(bundle.load_trusted_key(keys[1]))
    assert set(manifest["files"]) == set(names[2:]) == {
        *packages, bundle.ALLOW_MEMBER, *(n.replace("packages/", "metadata/").replace(".vsix", ".json")
                                          for n in packages)}
    for name, data in packages.items():
        assert manifest["files"][name] == {"sha256": hashlib.sha256(data).hexdigest(), "size": len(data)}
    assert allow == b"somepub.*\n" and json.loads(metadata) == {"version": "1.0.0"}  # never the statistics
    bundle.load_trusted_key(keys[1]).verify(base64.b64decode(signature), manifest_bytes)


def test_the_sink_is_the_mirrors_sink_and_long_names_travel(tmp_path: Path, keys: tuple[Path, Path]):
    from marketplace.mirror import engine

    path = tmp_path / "b.mkpbundle"
    publisher, name = "p" * 60, "n" * 80  # a member name longer than ustar's 100 characters: a pax header
    sink: engine.Sink = bundle.BundleSink(path, signing_key=keys[0], allow_text=None, upstream=UPSTREAM)
    version = engine.UpstreamVersion(publisher, name, "1.0.0-beta.1+build.7", "win32-arm64", True, "0" * 64,
                                     f"{UPSTREAM}/x.vsix", {"namespace": publisher, "name": name})
    outcome = sink.accept(b"PK long", version)
    assert (outcome.status, outcome.extension_id) == ("published", f"{publisher}.{name}")
    sink.close()
    fake = FakeImport()
    bundle.import_bundle(path, trusted_key=keys[1], import_package=fake)
    (call,) = fake.calls
    assert call["data"] == b"PK long"
    assert call["source"].endswith(f":packages/{publisher}.{name}-1.0.0-beta.1+build.7@win32-arm64.vsix")


def test_a_version_twice_is_written_once(tmp_path: Path, keys: tuple[Path, Path]):
    with bundle.BundleSink(tmp_path / "b.mkpbundle", signing_key=keys[0], allow_text=None, upstream=UPSTREAM) as sink:
        assert sink.accept(b"a", FakeVersion("p", "n", "1.0.0")).status == "published"
        again = sink.accept(b"a", FakeVersion("p", "n", "1.0.0"))
        refused = sink.accept(b"a", FakeVersion("p", "n", "1.0.0/../../x"))
    assert again.status == "present"
    assert refused.status == "rejected" and "file name" in (refused.reason or "")
    with tarfile.open(tmp_path / "b.mkpbundle") as archive:
        assert archive.getnames()[2:] == ["packages/p.n-1.0.0@universal.vsix", "metadata/p.n-1.0.0@universal.json"]


def test_an_empty_bundle_imports_nothing(tmp_path: Path, keys: tuple[Path, Path]):
    bundle.BundleSink(tmp_path / "b.mkpbundle", signing_key=keys[0], allow_text=None, upstream=UPSTREAM).close()
    assert bundle.import_bundle(tmp_path / "b.mkpbundle", trusted_key=keys[1], import_package=FakeImport()) == []


def test_an_interrupted_sink_leaves_no_bundle(tmp_path: Path, keys: tuple[Path, Path]):
    out = tmp_path / "out"
    out.mkdir()
    path = out / "b.mkpbundle"
    sink = bundle.BundleSink(path, signing_key=keys[0], allow_text="x\n", upstream=UPSTREAM)
    sink.accept(b"data", FakeVersion("p", "n", "1.0.0"))
    assert not path.exists()  # never closed: only a hidden temporary file
    assert [p.name.startswith(".b.mkpbundle.") and p.name.endswith(".partial") for p in out.iterdir()] == [True]
    sink.discard()
    assert list(out.iterdir()) == []
    with pytest.raises(RuntimeError), bundle.BundleSink(path, signing_key=keys[0], allow_text=None,
                                                        upstream=UPSTREAM) as failing:
        failing.accept(b"data", FakeVersion("p", "n", "1.0.0"))
        raise RuntimeError("the mirror failed")
    assert list(out.iterdir()) == []


def test_a_failing_close_leaves_the_previous_bundle_in_place(tmp_path: Path, keys: tuple[Path, Path],
                                                              monkeypatch: pytest.MonkeyPatch):
    out = tmp_path / "out"
    out.mkdir()
    path = out / "b.mkpbundle"
    path.write_bytes(b"yesterday's bundle")
    sink = bundle.BundleSink(path, signing_key=keys[0], allow_text=None, upstream=UPSTREAM)
    sink.accept(b"data", FakeVersion("p", "n", "1.0.0"))

    def broken(*args: Any) -> None:
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(Path, "replace", broken)
    with pytest.raises(OSError):
        sink.close()
    assert path.read_bytes() == b"yesterday's bundle"
    assert [p.name for p in out.iterdir()] == ["b.mkpbundle"]


def test_verify_reads_everything_and_imports_nothing(tmp_path: Path, keys: tuple[Path, Path]):
    path = tmp_path / "b.mkpbundle"
    packages = write_sample(path, keys[0])
    verified = bundle.verify_bundle(path, trusted_key=keys[1])
    assert verified.packages == sorted(packages) and verified.upstream == UPSTREAM
    assert verified.allow_text == "somepub.*\n" and verified.copies == {}
    assert verified.key_id == bundle.key_id(bundle.load_trusted_key(keys[1]))


def test_verify_command_lists_the_bundle_and_writes_its_allow_list(tmp_path: Path, keys: tuple[Path, Path],
                                                                    capsys: pytest.CaptureFixture[str]):
    from marketplace import cli

    path = tmp_path / "b.mkpbundle"
    write_sample(path, keys[0])
    allow = tmp_path / "allow.txt"
    assert cli.main(["bundle", "verify", str(path), "--trusted-key", str(keys[1]), "--allow-out", str(allow)]) == 0
    out = capsys.readouterr().out
    assert "every file matches the manifest" in out and "other.pack-2.1.0@universal.vsix" in out
    assert "3 package(s); carries its allow-list." in out
    assert allow.read_text() == "somepub.*\n"
    assert cli.main(["bundle", "verify", str(path), "--trusted-key", str(keys[1]), "--json"]) == 0
    assert json.loads(capsys.readouterr().out)["upstream"] == UPSTREAM
    other = tmp_path / "other"
    bundle.generate_keys(other)
    assert cli.main(["bundle", "verify", str(path), "--trusted-key", str(other / bundle.PUBLIC_KEY_FILE)]) == 1
    assert "does not verify with the trusted key" in capsys.readouterr().err


# -------------------------------------------------------------------------------------------- hostile bundles


def regular(name: str, data: bytes, **attributes: Any) -> tuple[tarfile.TarInfo, bytes]:
    info = tarfile.TarInfo(name)
    info.size, info.mode, info.mtime = len(data), 0o644, 1_700_000_000
    for key, value in attributes.items():
        setattr(info, key, value)
    return info, data


def manifest_for(listed: dict[str, bytes], key: Ed25519PrivateKey, **overrides: Any) -> bytes:
    value = {"format": 1, "created": "2025-01-01T00:00:00Z", "upstream": UPSTREAM,
             "keyId": bundle.key_id(key.public_key()),
             "files": {n: {"sha256": hashlib.sha256(d).hexdigest(), "size": len(d)} for n, d in listed.items()}}
    value.update(overrides)
    return bundle.canonical_json(value)


def write_tar(path: Path, members: list[tuple[tarfile.TarInfo, bytes]], fmt: int = tarfile.PAX_FORMAT) -> Path:
    with tarfile.open(path, "w", format=fmt) as archive:
        for info, data in members:
            archive.addfile(info, io.BytesIO(data) if info.isreg() else None)
    return path


FILES = {"packages/p.n-1.0.0@universal.vsix": b"PK package bytes", "allow.txt": b"p.*\n"}


def hostile(path: Path, key: Ed25519PrivateKey, *, files: dict[str, bytes] | None = None,
            members: list[tuple[tarfile.TarInfo, bytes]] | None = None, manifest: bytes | None = None,
            signature: bytes | None = None, fmt: int = tarfile.PAX_FORMAT) -> Path:
    """A bundle signed by ``key`` whose manifest lists ``files`` and whose archive holds ``members`` after the
    manifest and signature (default: exactly those files)."""
    files = FILES if files is None else files
    manifest = manifest_for(files, key) if manifest is None else manifest
    signature = base64.b64encode(key.sign(manifest)) if signature is None else signature
    members = [regular(n, d) for n, d in files.items()] if members is None else members
    return write_tar(path, [regular(bundle.MANIFEST_MEMBER, manifest), regular(bundle.SIGNATURE_MEMBER, signature),
                            *members], fmt)


def refused(path: Path, trusted: Path, match: str) -> None:
    fake = FakeImport()
    with pytest.raises(bundle.BundleError, match=match) as raised:
        bundle.import_bundle(path, trusted_key=trusted, import_package=fake)
    assert fake.calls == []
    assert str(path) in raised.value.message and "nothing was imported" in raised.value.message


def test_the_hostile_helper_builds_a_bundle_that_imports(tmp_path: Path, keys: tuple[Path, Path]):
    fake = FakeImport()
    bundle.import_bundle(hostile(tmp_path / "b", private_key(keys[0])), trusted_key=keys[1], import_package=fake)
    assert [c["data"] for c in fake.calls] == [FILES["packages/p.n-1.0.0@universal.vsix"]]


def test_a_bundle_signed_by_another_key_is_refused(tmp_path: Path, keys: tuple[Path, Path]):
    other = Ed25519PrivateKey.generate()
    trusted_id = bundle.key_id(bundle.load_trusted_key(keys[1]))
    other_id = bundle.key_id(other.public_key())
    refused(hostile(tmp_path / "b", other), keys[1],
            rf"does not verify with the trusted key {trusted_id} \(the manifest names key {other_id}\)")
    # the other key's signature, but the manifest claims the trusted key's id
    key = private_key(keys[0])
    manifest = manifest_for(FILES, key)
    refused(hostile(tmp_path / "c", key, signature=base64.b64encode(other.sign(manifest)), manifest=manifest),
            keys[1], "does not verify")


@pytest.mark.parametrize("signature", [b"", b"not base64!", base64.b64encode(b"short"), b"A" * 2000],
                         ids=["empty", "not-base64", "short", "too-long"])
def test_a_malformed_signature_is_refused(tmp_path: Path, keys: tuple[Path, Path], signature: bytes):
    refused(hostile(tmp_path / "b", private_key(keys[0]), signature=signature), keys[1],
            "does not verify|the signature is")


def test_a_manifest_tampered_after_signing_is_refused(tmp_path: Path, keys: tuple[Path, Path]):
    key = private_key(keys[0])
    signed = manifest_for(FILES, key)
    evil = {**FILES, "packages/p.n-1.0.0@universal.vsix": b"PK evil bytes!!!"}
    refused(hostile(tmp_path / "b", key, files=evil, manifest=manifest_for(evil, key),
                    signature=base64.b64encode(key.sign(signed))), keys[1], "does not verify")


def test_a_file_tampered_after_signing_is_refused(tmp_path: Path, keys: tuple[Path, Path]):
    path = tmp_path / "b.mkpbundle"
    packages = write_sample(path, keys[0])
    raw = bytearray(path.read_bytes())
    raw[raw.index(packages["packages/other.pack-2.1.0@universal.vsix"]) + 3] ^= 0x01
    path.write_bytes(bytes(raw))
    refused(path, keys[1], r"packages/other.pack-2.1.0@universal.vsix does not match its SHA-256")


def test_every_flipped_byte_is_refused(tmp_path: Path, keys: tuple[Path, Path]):
    """No byte of a bundle can change unnoticed: the signature covers the manifest, the manifest every file,
    the header checksums every header (their own field written exactly), and padding must be zeros."""
    path = hostile(tmp_path / "b", private_key(keys[0]))
    good = path.read_bytes()
    end = _end_of_members(good) + 1024  # then the record's zero padding: sampled
    for position in [*range(0, end, 5), *range(end, len(good), 101)]:
        damaged = bytearray(good)
        damaged[position] ^= 1 << (position % 8)
        path.write_bytes(bytes(damaged))
        with pytest.raises(bundle.BundleError):  # the import's first pass, alone
            bundle.verify_bundle(path, trusted_key=keys[1])
            pytest.fail(f"byte {position} changed unnoticed")


def test_a_manifest_keyid_other_than_the_trusted_key_is_refused(tmp_path: Path, keys: tuple[Path, Path]):
    key = private_key(keys[0])
    refused(hostile(tmp_path / "b", key, manifest=manifest_for(FILES, key, keyId="0123456789abcdef")), keys[1],
            "names key '0123456789abcdef'")


@pytest.mark.parametrize("name", ["../x", "/etc/passwd", "packages/../../x.vsix", "packages/sub/x.vsix",
                                  "bundle/manifest.json", "packages/.vsix", "other.txt", "packages/a\\b.vsix"])
def test_a_manifest_listing_an_unsafe_name_is_refused(tmp_path: Path, keys: tuple[Path, Path], name: str):
    key = private_key(keys[0])
    files = {**FILES, name: b"x"}
    refused(hostile(tmp_path / "b", key, files=files, members=[regular(n, d) for n, d in FILES.items()]),
            keys[1], "not a name a bundle may hold")


@pytest.mark.parametrize("overrides, match", [
    ({"format": 2}, "unsupported bundle format"),
    ({"format": True}, "unsupported bundle format"),
    ({"upstream": "file:///etc"}, "upstream is not"),
    ({"files": []}, "files must be an object"),
    ({"extra": 1}, "exactly format"),
    ({"files": {"allow.txt": {"sha256": "AB" * 32, "size": 1}}}, "must be"),
    ({"files": {"allow.txt": {"sha256": "ab" * 32, "size": -1}}}, "must be"),
    ({"files": {"allow.txt": {"sha256": "ab" * 32, "size": 2**40}}}, "must be"),
])
def test_a_malformed_manifest_is_refused(tmp_path: Path, keys: tuple[Path, Path], overrides: dict[str, Any],
                                         match: str):
    key = private_key(keys[0])
    refused(hostile(tmp_path / "b", key, manifest=manifest_for(FILES, key, **overrides)), keys[1], match)


def test_a_manifest_that_is_not_json_is_refused(tmp_path: Path, keys: tuple[Path, Path]):
    refused(hostile(tmp_path / "b", private_key(keys[0]), manifest=b"{not json"), keys[1], "not JSON")


@pytest.mark.parametrize("name", ["../x", "/etc/passwd", "packages/../../../tmp/x.vsix", "./allow.txt",
                                  "packages//x.vsix", "a\\..\\b", "packages/x\x01.vsix", "é.txt"])
def test_an_unsafe_member_name_is_refused(tmp_path: Path, keys: tuple[Path, Path], name: str):
    refused(hostile(tmp_path / "b", private_key(keys[0]),
                    members=[*(regular(n, d) for n, d in FILES.items()), regular(name, b"x")]),
            keys[1], "not a safe relative path|not ASCII")


def test_an_unsafe_ustar_name_is_refused(tmp_path: Path, keys: tuple[Path, Path]):
    """The same without a pax header: the ustar name itself (written with the ustar format)."""
    refused(hostile(tmp_path / "b", private_key(keys[0]), fmt=tarfile.USTAR_FORMAT,
                    members=[*(regular(n, d) for n, d in FILES.items()), regular("../../x", b"x")]),
            keys[1], "not a safe relative path")


def special(name: str, kind: bytes, **attributes: Any) -> tuple[tarfile.TarInfo, bytes]:
    info, _ = regular(name, b"", **attributes)
    info.type = kind
    return info, b""


@pytest.mark.parametrize("member, match", [
    (special("allow.txt", tarfile.SYMTYPE, linkname="/etc/passwd"), "symbolic link"),
    (special("allow.txt", tarfile.LNKTYPE, linkname="bundle/manifest.json"), "hard link"),
    (special("allow.txt", tarfile.CHRTYPE, devmajor=1, devminor=3), "character device"),
    (special("allow.txt", tarfile.BLKTYPE), "block device"),
    (special("packages", tarfile.DIRTYPE, mode=0o7777), "directory"),
    (special("allow.txt", tarfile.FIFOTYPE), "FIFO"),
    (regular("allow.txt", b"p.*\n", mode=0o4755), "setuid"),
    (regular("allow.txt", b"p.*\n", pax_headers={"GNU.sparse.major": "1", "GNU.sparse.minor": "0"}), "sparse"),
    (regular("allow.txt", b"p.*\n", pax_headers={"linkpath": "/etc/passwd"}), "'linkpath'"),
])
def test_a_member_that_is_not_a_plain_file_is_refused(tmp_path: Path, keys: tuple[Path, Path],
                                                     member: tuple[tarfile.TarInfo, bytes], match: str):
    package = "packages/p.n-1.0.0@universal.vsix"
    refused(hostile(tmp_path / "b", private_key(keys[0]), members=[regular(package, FILES[package]), member]),
            keys[1], match)


def test_a_gnu_sparse_member_is_refused(tmp_path: Path, keys: tuple[Path, Path]):
    path = hostile(tmp_path / "b", private_key(keys[0]), members=[])
    raw = path.read_bytes()
    info, _ = regular("packages/p.n-1.0.0@universal.vsix", b"")
    info.type = tarfile.GNUTYPE_SPARSE
    header = info.tobuf(tarfile.USTAR_FORMAT)
    end = _end_of_members(raw)
    path.write_bytes(raw[:end] + header + bytes(1024))
    refused(path, keys[1], "sparse file")


def _end_of_members(raw: bytes) -> int:
    """Where the end-of-archive marker starts in a tar this test wrote."""
    position = 0
    while raw[position:position + 512] != bytes(512):
        size = int(raw[position + 124:position + 136].split(b"\x00")[0].strip() or b"0", 8)
        position += 512 + -(-size // 512) * 512
    return position


def test_a_gnu_tar_is_refused(tmp_path: Path, keys: tuple[Path, Path]):
    refused(hostile(tmp_path / "b", private_key(keys[0]), fmt=tarfile.GNU_FORMAT), keys[1], "not a POSIX")


def test_a_huge_extended_header_is_refused_before_it_is_read(tmp_path: Path, keys: tuple[Path, Path]):
    path = hostile(tmp_path / "b", private_key(keys[0]), members=[])
    raw = path.read_bytes()
    pax = tarfile.TarInfo("././@PaxHeader")
    pax.type, pax.size = tarfile.XHDTYPE, 2**33 - 1
    path.write_bytes(raw[:_end_of_members(raw)] + pax.tobuf(tarfile.USTAR_FORMAT))  # and nothing after it
    refused(path, keys[1], "an extended header of 8589934591 bytes")


@pytest.mark.parametrize("records, match", [
    (b"garbage", "malformed extended header"),
    (b"99 path=x\n", "malformed extended header"),
    (b"8 path\n", "malformed extended header"),
    (b"13 path=a\n13 path=a\n", "malformed|twice"),
    (b"21 hdrcharset=BINARY\n", "'hdrcharset'"),
])
def test_a_malformed_extended_header_is_refused(tmp_path: Path, keys: tuple[Path, Path], records: bytes,
                                                match: str):
    path = hostile(tmp_path / "b", private_key(keys[0]), members=[])
    raw = path.read_bytes()
    pax = tarfile.TarInfo("././@PaxHeader")
    pax.type, pax.size = tarfile.XHDTYPE, len(records)
    info, data = regular("allow.txt", b"p.*\n")
    body = pax.tobuf(tarfile.USTAR_FORMAT) + records + bytes(-len(records) % 512)
    body += info.tobuf(tarfile.USTAR_FORMAT) + data + bytes(-len(data) % 512)
    path.write_bytes(raw[:_end_of_members(raw)] + body + bytes(1024))
    refused(path, keys[1], match)


def test_a_base256_size_is_refused(tmp_path: Path, keys: tuple[Path, Path]):
    path = hostile(tmp_path / "b", private_key(keys[0]))
    raw = bytearray(path.read_bytes())
    start = 0  # the manifest's header
    raw[start + 124:start + 136] = b"\x80" + bytes(10) + b"\x10"
    _fix_checksum(raw, start)
    path.write_bytes(bytes(raw))
    refused(path, keys[1], "base-256")


def _fix_checksum(raw: bytearray, start: int) -> None:
    block = raw[start:start + 512]
    block[148:156] = b" " * 8
    raw[start + 148:start + 156] = b"%06o\x00 " % sum(block)


def test_a_bad_header_checksum_is_refused(tmp_path: Path, keys: tuple[Path, Path]):
    path = hostile(tmp_path / "b", private_key(keys[0]))
    raw = bytearray(path.read_bytes())
    raw[5] ^= 0x01
    path.write_bytes(bytes(raw))
    refused(path, keys[1], "checksum is wrong")


def test_duplicate_members_are_refused(tmp_path: Path, keys: tuple[Path, Path]):
    refused(hostile(tmp_path / "b", private_key(keys[0]),
                    members=[*(regular(n, d) for n, d in FILES.items()), regular("allow.txt", b"p.*\n")]),
            keys[1], "'allow.txt' appears twice")
    refused(hostile(tmp_path / "c", private_key(keys[0]),
                    members=[*(regular(n, d) for n, d in FILES.items()), regular(bundle.MANIFEST_MEMBER, b"{}")]),
            keys[1], "appears twice")


def test_an_extra_member_is_refused(tmp_path: Path, keys: tuple[Path, Path]):
    refused(hostile(tmp_path / "b", private_key(keys[0]),
                    members=[*(regular(n, d) for n, d in FILES.items()),
                             regular("packages/evil.x-1.0.0@universal.vsix", b"PK")]),
            keys[1], "'packages/evil.x-1.0.0@universal.vsix' is not in the manifest")


def test_a_missing_member_is_refused(tmp_path: Path, keys: tuple[Path, Path]):
    refused(hostile(tmp_path / "b", private_key(keys[0]), members=[regular("allow.txt", FILES["allow.txt"])]),
            keys[1], "packages/p.n-1.0.0@universal.vsix, missing from the archive")


def test_a_member_whose_size_lies_is_refused(tmp_path: Path, keys: tuple[Path, Path]):
    package = "packages/p.n-1.0.0@universal.vsix"
    refused(hostile(tmp_path / "b", private_key(keys[0]),
                    members=[regular(package, FILES[package] + b"more"), regular("allow.txt", FILES["allow.txt"])]),
            keys[1], f"{package} is 20 bytes in the archive, 16 in the manifest")
    # a header that claims more than the archive holds: truncated
    path = hostile(tmp_path / "c", private_key(keys[0]), files={package: b"x" * 5000},
                   members=[regular(package, b"x" * 5000)])
    raw = path.read_bytes()
    path.write_bytes(raw[:raw.index(b"x" * 5000) + 4000])
    refused(path, keys[1], "truncated")


@pytest.mark.parametrize("keep", [0, 100, 512, 1100, 1536, 2100, -1024, -1023, -512])
def test_a_truncated_archive_is_refused(tmp_path: Path, keys: tuple[Path, Path], keep: int):
    path = hostile(tmp_path / "b", private_key(keys[0]), fmt=tarfile.USTAR_FORMAT)
    raw = path.read_bytes()
    end = _end_of_members(raw)
    path.write_bytes(raw[:keep] if keep >= 0 else raw[:end + 1024 + keep])
    refused(path, keys[1], "truncated|first member|second member|does not verify")


def test_data_after_the_end_of_the_archive_is_refused(tmp_path: Path, keys: tuple[Path, Path]):
    path = hostile(tmp_path / "b", private_key(keys[0]))
    path.write_bytes(path.read_bytes() + b"\x00" * 512 + b"appended")
    refused(path, keys[1], "data after the end of the archive")


def test_the_manifest_and_signature_must_come_first(tmp_path: Path, keys: tuple[Path, Path]):
    key = private_key(keys[0])
    manifest = manifest_for(FILES, key)
    signature = base64.b64encode(key.sign(manifest))
    members = [regular(n, d) for n, d in FILES.items()]
    refused(write_tar(tmp_path / "a", [*members, regular(bundle.MANIFEST_MEMBER, manifest),
                                       regular(bundle.SIGNATURE_MEMBER, signature)]), keys[1], "first member")
    refused(write_tar(tmp_path / "b", [regular(bundle.MANIFEST_MEMBER, manifest), *members,
                                       regular(bundle.SIGNATURE_MEMBER, signature)]), keys[1], "second member")
    refused(write_tar(tmp_path / "c", [regular(bundle.SIGNATURE_MEMBER, signature),
                                       regular(bundle.MANIFEST_MEMBER, manifest)]), keys[1], "first member")
    (tmp_path / "d").write_bytes(b"")
    refused(tmp_path / "d", keys[1], "truncated")
    (tmp_path / "e").write_bytes(b"PK\x03\x04" + bytes(600))
    refused(tmp_path / "e", keys[1], "checksum|not a POSIX")


def test_an_oversized_manifest_is_refused_before_it_is_read(tmp_path: Path, keys: tuple[Path, Path]):
    info = tarfile.TarInfo(bundle.MANIFEST_MEMBER)
    info.size = bundle.MAX_MANIFEST_BYTES + 1
    (tmp_path / "b").write_bytes(info.tobuf(tarfile.USTAR_FORMAT) + b"{}")  # the rest never comes
    refused(tmp_path / "b", keys[1], "the manifest is 16777217 bytes")


def test_a_package_rejected_by_the_ingest_does_not_stop_the_others(tmp_path: Path, keys: tuple[Path, Path]):
    path = tmp_path / "b.mkpbundle"
    write_sample(path, keys[0])

    def picky(data: bytes, **kwargs: Any) -> importer.Outcome:
        if data == b"PK linux":
            raise BadRequest("the ingest says no")
        return importer.Outcome(kwargs["source"], "published")

    outcomes = bundle.import_bundle(path, trusted_key=keys[1], jobs=1, import_package=picky)
    assert sorted(o.status for o in outcomes) == ["published", "published", "rejected"]
    assert [o.reason for o in outcomes if o.status == "rejected"] == ["the ingest says no"]


def test_the_private_copies_are_removed(tmp_path: Path, keys: tuple[Path, Path], monkeypatch: pytest.MonkeyPatch):
    monkeypatch.setenv("TMPDIR", str(tmp_path / "tmp"))
    (tmp_path / "tmp").mkdir()
    import tempfile

    monkeypatch.setattr(tempfile, "tempdir", None)
    path = tmp_path / "b.mkpbundle"
    write_sample(path, keys[0])
    seen: list[tuple[list[str], int]] = []

    def looking(data: bytes, **kwargs: Any) -> importer.Outcome:
        (directory,) = (tmp_path / "tmp").iterdir()
        seen.append((sorted(p.name for p in directory.iterdir()), stat.S_IMODE(directory.stat().st_mode)))
        return importer.Outcome(kwargs["source"], "published")

    bundle.import_bundle(path, trusted_key=keys[1], jobs=1, import_package=looking)
    assert seen[0] == (["000000.vsix", "000001.vsix", "000002.vsix"], 0o700)  # names chosen here, owner only
    assert list((tmp_path / "tmp").iterdir()) == []


def test_a_missing_bundle_is_a_clear_error(tmp_path: Path, keys: tuple[Path, Path]):
    with pytest.raises(bundle.BundleError, match="cannot read the bundle"):
        bundle.import_bundle(tmp_path / "nope.mkpbundle", trusted_key=keys[1], import_package=FakeImport())

