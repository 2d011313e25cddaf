"""Archive inspection: every structural and path class of hostile upload (D3 2, 4-18) is refused with its code."""

import hashlib
import io
import pickle
import random
import struct
import zipfile
import zlib
from dataclasses import replace
from pathlib import Path

import pytest

from marketplace.publishing.manifest import read_package, wanted
from marketplace.publishing.vsix import (
    Archive,
    Entry,
    Limits,
    Rejected,
    check_path,
    inspect_archive,
    iter_entry,
    read_entry,
)
from tests import vsix_factory as vf


def _entry(archive: Archive, name: str) -> Entry:
    entry = archive.get(name)
    assert entry is not None
    return entry


ARCHIVE_CASES = [case for case in vf.HOSTILE_CASES if not case.code.startswith("manifest.")]


def test_a_vsce_like_package_is_accepted_with_its_manifests_kept(tmp_path):
    path = vf.build_vsix(tmp_path / "ok.vsix", icon=True)
    archive = inspect_archive(path, keep=wanted)
    names = [entry.name for entry in archive.entries]
    assert names == ["extension.vsixmanifest", "[Content_Types].xml", "extension/package.json",
                     "extension/extension.js", "extension/readme.md", "extension/LICENSE.txt",
                     "extension/changelog.md", "extension/images/icon.png"]
    assert archive.sha256 == hashlib.sha256(path.read_bytes()).hexdigest()
    assert archive.file_size == path.stat().st_size
    with zipfile.ZipFile(path) as z:
        for entry in archive.entries:
            data = z.read(entry.name)
            assert entry.size == len(data) and entry.crc == zlib.crc32(data)
            assert b"".join(iter_entry(archive, entry)) == data
        assert archive.kept["extension/package.json"] == z.read("extension/package.json")
        assert archive.total_uncompressed == sum(i.file_size for i in z.infolist())
    assert set(archive.kept) == {"extension.vsixmanifest", "extension/package.json", "extension/readme.md",
                                 "extension/changelog.md", "extension/LICENSE.txt", "extension/images/icon.png"}
    assert archive.get("extension/extension.js") is not None and archive.get("nope") is None


@pytest.mark.parametrize("case", ARCHIVE_CASES, ids=lambda c: c.name)
def test_hostile_archives_are_rejected_with_their_code(tmp_path, case):
    path = case.build(tmp_path / f"{case.name}.vsix")
    with pytest.raises(Rejected) as caught:
        inspect_archive(path, keep=wanted)
    assert caught.value.code == case.code, caught.value.reason
    assert case.mentions in caught.value.reason
    assert str(caught.value) == caught.value.reason and isinstance(caught.value, ValueError)


def test_every_d3_class_the_file_can_decide_has_a_case():
    covered = {int(item) for case in vf.HOSTILE_CASES for item in case.d3.split(",")}
    # 10 (nested archives) is accepted, see below; 30 (license policy) is in test_manifest; 1, 3 and 31+ need
    # the upload record or the registry.
    assert covered == {2, *range(4, 10), *range(11, 30)}


def test_rejections_survive_pickling():
    rejected = pickle.loads(pickle.dumps(Rejected("archive.crc", "entry fails its CRC check")))
    assert (rejected.code, rejected.reason, str(rejected)) == ("archive.crc", "entry fails its CRC check",
                                                               "entry fails its CRC check")


def test_nested_archives_are_plain_files_never_opened(tmp_path):
    archive = inspect_archive(vf.nested_archive(tmp_path / "nested.vsix"))
    assert archive.get("extension/bundled/inner.vsix") is not None


# ------------------------------------------------------------------------------------ accepted variants


def test_info_zip_style_extras_directories_and_plain_descriptors_are_accepted(tmp_path):
    entries = vf.vsix_entries()
    local_ut = vf.extra_field(0x5455, b"\x03" + struct.pack("<II", 1700000000, 1700000000))  # mtime, atime
    central_ut = vf.extra_field(0x5455, b"\x03" + struct.pack("<I", 1700000000))  # mtime only, as Info-ZIP does
    ux = vf.extra_field(0x7875, b"\x01\x04" + struct.pack("<I", 1000) + b"\x04" + struct.pack("<I", 1000))
    tweaked = [replace(e, extra=central_ut + ux, local_extra=local_ut + ux, descriptor=True,
                       descriptor_signature=False) for e in entries]
    directories = [vf.RawEntry("extension/", b"", method=vf.STORED, mode=0o040755, dos_attr=0x10),
                   vf.RawEntry("extension/images/", b"", mode=0o040755)]  # deflated empty stream (2 bytes)
    archive = inspect_archive(vf.write_zip(tmp_path / "infozip.vsix", [*directories, *tweaked]), keep=wanted)
    assert [e.name for e in archive.entries if e.is_dir] == ["extension/", "extension/images/"]
    assert len(archive.files) == len(entries)
    read_package(archive)


def test_packages_written_by_python_zipfile_are_accepted(tmp_path):
    path = tmp_path / "py.vsix"
    with zipfile.ZipFile(path, "w", zipfile.ZIP_DEFLATED) as z:
        for entry in vf.vsix_entries():
            z.writestr(str(entry.name), entry.data)
        z.writestr("extension/stored.bin", b"\x00" * 100, compress_type=zipfile.ZIP_STORED)
        z.writestr("extension/ünïcödé.txt", "text")
    archive = inspect_archive(path, keep=wanted)
    assert read_package(archive).id == "somepub.hello"


def test_empty_files_and_stored_entries_are_accepted(tmp_path):
    path = vf.build_vsix(tmp_path / "a.vsix", extra_files={"extension/empty.txt": b""})
    entries = [replace(e, method=vf.STORED) for e in vf.vsix_entries(extra_files={"extension/empty.txt": b""})]
    assert _entry(inspect_archive(path), "extension/empty.txt").size == 0
    assert _entry(inspect_archive(vf.write_zip(tmp_path / "stored.vsix", entries)), "extension/empty.txt").size == 0


@pytest.mark.parametrize("name", ["extension/node_modules/.bin/x", "extension/a b/c-d_e.f~g.js", "extension/日本語.md",
                                  "extension/con-fig/console.js", "extension/.vscodeignore", "extension/emoji😀.txt"])
def test_ordinary_names_pass_the_path_rules(name):
    check_path(name)


# ----------------------------------------------------------------------------------------------- limits


def test_entry_count_is_limited_before_anything_is_read(tmp_path):
    path = vf.build_vsix(tmp_path / "many.vsix", extra_files={f"extension/f/{i}.txt": b"" for i in range(20)})
    with pytest.raises(Rejected) as caught:
        inspect_archive(path, Limits(max_entries=10))
    assert caught.value.code == "archive.too_many_entries" and "10" in caught.value.reason


def test_declared_sizes_are_limited_per_entry_in_total_and_by_file_size(tmp_path):
    path = vf.build_vsix(tmp_path / "a.vsix", extra_files={"extension/big.bin": vf.incompressible_text(50_000)})
    for limits, code in ((Limits(max_entry_bytes=10_000), "archive.entry_too_large"),
                         (Limits(max_total_bytes=20_000), "archive.too_large"),
                         (Limits(max_archive_bytes=1_000), "archive.too_large")):
        with pytest.raises(Rejected) as caught:
            inspect_archive(path, limits)
        assert caught.value.code == code


def test_overall_ratio_is_limited_even_when_each_entry_is_small(tmp_path):
    files = {f"extension/z/{i}.txt": b"\x00" * 60_000 for i in range(30)}  # each under the per-entry floor
    path = vf.build_vsix(tmp_path / "zeros.vsix", extra_files=files)
    with pytest.raises(Rejected) as caught:
        inspect_archive(path)
    assert caught.value.code == "archive.ratio" and "the package expands" in caught.value.reason


def test_small_highly_compressible_files_are_not_flagged(tmp_path):
    path = vf.build_vsix(tmp_path / "a.vsix", extra_files={"extension/zeros.bin": b"\x00" * 500_000})
    assert _entry(inspect_archive(path), "extension/zeros.bin").size == 500_000


def test_a_lying_header_is_refused_while_inflating(tmp_path):
    """20 MiB inflates from an entry that claims 1,000 bytes (ratio checks see only 1,000 bytes)."""
    bomb = vf.RawEntry("extension/lie.bin", b"\x00" * (20 * 1024 * 1024), size=1000, descriptor=True)
    path = vf.write_zip(tmp_path / "lie.vsix", [*vf.vsix_entries(), bomb])
    with pytest.raises(Rejected) as caught:
        inspect_archive(path, Limits(chunk_bytes=64 * 1024))
    assert caught.value.code == "archive.size_mismatch" and "extension/lie.bin" in caught.value.reason


def test_data_after_the_end_of_a_deflate_stream_is_refused(tmp_path):
    entries = [replace(e, payload=vf.compress(e.data, vf.DEFLATED) + b"hidden") if e.name == vf.JS else e
               for e in vf.vsix_entries()]
    with pytest.raises(Rejected) as caught:
        inspect_archive(vf.write_zip(tmp_path / "a.vsix", entries))
    assert caught.value.code == "archive.corrupt" and vf.JS in caught.value.reason


def test_a_deflate_stream_cut_short_is_refused(tmp_path):
    entries = [replace(e, payload=vf.compress(e.data, vf.DEFLATED)[:-3]) if e.name == vf.JS else e
               for e in vf.vsix_entries()]
    with pytest.raises(Rejected) as caught:
        inspect_archive(vf.write_zip(tmp_path / "a.vsix", entries))
    assert caught.value.code in ("archive.corrupt", "archive.size_mismatch") and vf.JS in caught.value.reason


def test_a_data_descriptor_that_disagrees_is_refused(tmp_path):
    entries = vf.vsix_entries()
    writer = vf.ZipWriter()
    for entry in entries:
        if entry.name == vf.JS:  # local header + data + a descriptor with a wrong CRC; central record true
            writer.add(replace(entry, crc=1), central=False)
            writer.add_central(entry, writer.offsets[vf.JS.encode()])
        else:
            writer.add(entry)
    path = tmp_path / "a.vsix"
    path.write_bytes(writer.finish())
    with pytest.raises(Rejected) as caught:
        inspect_archive(path)
    assert caught.value.code == "archive.header_mismatch" and vf.JS in caught.value.reason


@pytest.mark.parametrize(("flags", "code"), [(0x0040, "archive.encrypted"), (0x2000, "archive.encrypted"),
                                             (0x0020, "archive.flags"), (0x0010, "archive.flags")])
def test_unsupported_flags_are_refused(tmp_path, flags, code):
    entries = [replace(e, flags=e.flags | flags) if e.name == vf.JS else e for e in vf.vsix_entries()]
    with pytest.raises(Rejected) as caught:
        inspect_archive(vf.write_zip(tmp_path / "a.vsix", entries))
    assert caught.value.code == code


def test_aes_and_other_methods_are_refused(tmp_path):
    entries = [replace(e, method=99, payload=b"x" * 20) if e.name == vf.JS else e for e in vf.vsix_entries()]
    with pytest.raises(Rejected) as caught:
        inspect_archive(vf.write_zip(tmp_path / "a.vsix", entries))
    assert caught.value.code == "archive.compression" and "AES" in caught.value.reason


def test_a_file_marked_as_directory_is_refused(tmp_path):
    path = vf.write_zip(tmp_path / "a.vsix", [*vf.vsix_entries(), vf.RawEntry("extension/x", b"", mode=0o040755)])
    with pytest.raises(Rejected) as caught:
        inspect_archive(path)
    assert caught.value.code == "archive.special_file"


def test_split_archives_and_wrong_counts_are_refused(tmp_path):
    writer = vf.ZipWriter()
    for entry in vf.vsix_entries():
        writer.add(entry)
    (tmp_path / "disk.vsix").write_bytes(writer.finish(disk=1))
    (tmp_path / "count.vsix").write_bytes(writer.finish(entries=3))
    (tmp_path / "offset.vsix").write_bytes(writer.finish(cd_offset=10))
    for name in ("disk", "count", "offset"):
        with pytest.raises(Rejected) as caught:
            inspect_archive(tmp_path / f"{name}.vsix")
        assert caught.value.code in ("archive.invalid", "archive.layout"), name


def test_a_fake_end_record_in_the_comment_is_refused(tmp_path):
    real = vf.vsix_bytes()
    fake_comment = real[-22:-2] + b"\x00\x00"  # a copy of the end record, as the comment
    data = real[:-2] + struct.pack("<H", len(fake_comment)) + fake_comment
    (tmp_path / "a.vsix").write_bytes(data)
    with pytest.raises(Rejected) as caught:
        inspect_archive(tmp_path / "a.vsix")
    assert caught.value.code in ("archive.comment", "archive.layout")


# ---------------------------------------------------------------------------------------- keeping bytes


def test_kept_entries_respect_their_cap_and_the_budget_and_can_be_read_again(tmp_path):
    files = {f"extension/img{i}.png": vf.incompressible_text(40_000, str(i).encode()).encode() for i in range(5)}
    path = vf.build_vsix(tmp_path / "a.vsix", extra_files=files)
    archive = inspect_archive(path, Limits(max_kept_bytes=100_000),
                              keep=lambda name: 50_000 if ".png" in name else None)
    kept_images = [name for name in archive.kept if name.endswith(".png")]
    assert len(kept_images) == 2  # 2 x 40,000 bytes fit the budget, the third doesn't
    assert "extension/package.json" in archive.kept and "extension.vsixmanifest" in archive.kept
    assert read_entry(archive, "extension/img4.png", 50_000) == files["extension/img4.png"]
    small_cap = inspect_archive(path, keep=lambda name: 10 if ".png" in name else None)
    assert not [name for name in small_cap.kept if name.endswith(".png")]
    with pytest.raises(Rejected) as caught:
        read_entry(archive, "extension/img4.png", 1_000)
    assert caught.value.code == "archive.entry_too_large" and "extension/img4.png" in caught.value.reason


def test_manifests_over_their_cap_are_not_kept(tmp_path):
    path = vf.build_vsix(tmp_path / "a.vsix", package_json_overrides={"padding": vf.incompressible_text(5_000)})
    archive = inspect_archive(path, Limits(max_manifest_bytes=1_000))
    assert "extension/package.json" not in archive.kept and "extension.vsixmanifest" not in archive.kept


def test_rereading_an_entry_of_a_changed_file_is_refused(tmp_path):
    path = vf.build_vsix(tmp_path / "a.vsix")
    archive = inspect_archive(path)
    entry = _entry(archive, vf.JS)
    data = bytearray(path.read_bytes())
    data[entry.data_offset + 2] ^= 0xFF
    path.write_bytes(bytes(data))
    with pytest.raises(Rejected):
        b"".join(iter_entry(archive, entry))


# ------------------------------------------------------------------------------------------------- fuzz


def _outcome(path: Path) -> str:
    try:
        archive = inspect_archive(path, keep=wanted)
    except Rejected as rejected:
        return rejected.code
    try:
        read_package(archive)
    except Rejected as rejected:
        return rejected.code
    return "accepted"


def test_mutated_packages_are_either_accepted_or_rejected_never_crash(tmp_path):
    original = vf.vsix_bytes(icon=True, extra_files={"extension/data.bin": bytes(range(256)) * 40})
    rng = random.Random(20251124)
    path = tmp_path / "m.vsix"
    outcomes: dict[str, int] = {}
    for i in range(320):
        data = bytearray(original)
        kind = i % 4
        if kind == 0:  # flip bytes at random positions
            for _ in range(rng.randint(1, 4)):
                data[rng.randrange(len(data))] ^= 1 << rng.randrange(8)
        elif kind == 1:  # overwrite a header field region (the first 40% holds most headers)
            at = rng.randrange(len(data))
            data[at:at + 4] = rng.randbytes(4)
        elif kind == 2:  # truncate
            del data[rng.randrange(len(data)):]
        else:  # patch a 16/32-bit field in the central directory or end record
            cd = original.rfind(b"PK\x01\x02")
            at = rng.randrange(cd, len(data) - 2)
            data[at:at + 2] = rng.choice([b"\xff\xff", b"\x00\x00", rng.randbytes(2)])
        path.write_bytes(bytes(data))
        outcome = _outcome(path)  # anything but Rejected propagates and fails the test
        outcomes[outcome] = outcomes.get(outcome, 0) + 1
    assert len(outcomes) > 5  # the mutations reach many different checks


def test_random_bytes_and_tiny_files_are_rejected(tmp_path):
    rng = random.Random(7)
    path = tmp_path / "r.vsix"
    for size in (0, 1, 3, 4, 21, 22, 30, 100, 5000):
        for prefix in (b"", b"PK\x03\x04", b"PK\x05\x06"):
            path.write_bytes((prefix + rng.randbytes(size))[: max(size, len(prefix))])
            with pytest.raises(Rejected):
                inspect_archive(path)


def test_a_minimal_valid_zip_without_manifests_passes_the_archive_checks(tmp_path):
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as z:
        z.writestr("extension/x.txt", "x")
    (tmp_path / "x.vsix").write_bytes(buffer.getvalue())
    archive = inspect_archive(tmp_path / "x.vsix")
    with pytest.raises(Rejected) as caught:
        read_package(archive)
    assert caught.value.code == "manifest.missing"
