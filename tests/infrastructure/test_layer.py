"""The layer ships Lambda-platform wheels (CPython 3.14, aarch64) and the package, built without Docker."""

from __future__ import annotations

import struct
import zipfile
from pathlib import Path

import pytest

from stacks.layer import LAYER_ZIP, WHEELHOUSE, LayerBuildError, _zip, build_layer

from .synth import Synthesized

ELF_MAGIC = b"\x7fELF"
EM_AARCH64 = 183

needs_wheelhouse = pytest.mark.skipif(
    not any(WHEELHOUSE.glob("*.whl")), reason="no wheelhouse: run `./dev setup` (python -m stacks.layer download)"
)


def _elf_machine(header: bytes) -> int:
    assert header[:4] == ELF_MAGIC
    byte_order = "<" if header[5] == 1 else ">"
    (machine,) = struct.unpack_from(f"{byte_order}H", header, 18)
    return int(machine)


@pytest.fixture(scope="module")
def layer_zip() -> zipfile.ZipFile:
    return zipfile.ZipFile(build_layer() / LAYER_ZIP)


@needs_wheelhouse
def test_compiled_dependencies_are_built_for_aarch64_cpython_3_14(layer_zip: zipfile.ZipFile) -> None:
    names = layer_zip.namelist()
    assert "python/_cffi_backend.cpython-314-aarch64-linux-gnu.so" in names  # cffi, for cryptography
    shared = [n for n in names if n.endswith(".so")]
    assert any(n.startswith("python/cryptography/") for n in shared)
    for name in shared:
        assert _elf_machine(layer_zip.read(name)[:64]) == EM_AARCH64, name
        assert "x86_64" not in name and "cpython-311" not in name, name


@needs_wheelhouse
def test_layer_holds_the_package_without_the_local_runtime(layer_zip: zipfile.ZipFile) -> None:
    names = layer_zip.namelist()
    assert all(n.startswith("python/") for n in names)
    assert "python/marketplace/__init__.py" in names
    assert "python/marketplace/platform/resources.py" in names
    assert "python/aws_lambda_powertools/__init__.py" in names
    assert not [n for n in names if n.startswith("python/marketplace/local/")]
    assert not [n for n in names if "__pycache__" in n or n.endswith(".pyc")]
    assert not [n for n in names if n.startswith("python/bin/")]


@needs_wheelhouse
def test_layer_leaves_out_what_no_lambda_module_imports(layer_zip: zipfile.ZipFile) -> None:
    tops = {n.split("/")[1] for n in layer_zip.namelist() if n.count("/") > 1}
    assert not {t for t in tops if t.startswith(("pydantic", "packaging", "annotated_types", "typing_inspection"))}


@needs_wheelhouse
def test_layer_build_is_cached() -> None:
    assert build_layer() == build_layer()


def test_missing_wheelhouse_tells_the_operator_what_to_run(tmp_path: Path) -> None:
    with pytest.raises(LayerBuildError, match=r"\./dev setup"):
        build_layer(wheelhouse=tmp_path / "wheels", cache=tmp_path / "layer")


def test_layer_zip_is_reproducible(tmp_path: Path) -> None:
    folder = tmp_path / "python"
    (folder / "pkg").mkdir(parents=True)
    (folder / "pkg" / "__init__.py").write_text("x = 1\n")
    _zip(folder, tmp_path / "a.zip")
    (folder / "pkg" / "__init__.py").touch()
    _zip(folder, tmp_path / "b.zip")
    assert (tmp_path / "a.zip").read_bytes() == (tmp_path / "b.zip").read_bytes()


@pytest.mark.slow
def test_layer_version_is_for_python_3_14_on_arm64(dev: Synthesized) -> None:
    props = dev.props(dev.stack.layer.layer)
    assert props["CompatibleRuntimes"] == ["python3.14"]
    assert props["CompatibleArchitectures"] == ["arm64"]
