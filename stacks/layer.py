"""The common Lambda layer: third-party packages for the Lambda platform plus the ``marketplace`` package.

Built locally with pip, never with Docker:

* at set-up time (network allowed) ``python -m stacks.layer download`` fills the wheelhouse
  ``.build/wheels`` with wheels for CPython 3.14 on manylinux aarch64;
* at synth time (offline) :func:`build_layer` installs from that wheelhouse only (``--no-index``) and
  copies the package next to the third-party packages.

Both steps are cached under ``.build/layer``: the pip install is keyed by the requirements, the pip flags
and the wheelhouse listing, the finished layer additionally by the package sources. The finished layer is
``.build/layer/<hash>/python/...`` plus ``layer.zip`` of it, written deterministically. CDK gets the zip:
staging a 3,000-file folder costs about 4 s a synth (fingerprint and copy), a single zip 0.05 s.
"""

from __future__ import annotations

import argparse
import hashlib
import os
import shutil
import subprocess
import sys
import zipfile
from collections.abc import Callable, Iterator, Sequence
from pathlib import Path

from aws_cdk import aws_lambda as lambda_
from constructs import Construct

PROJECT_ROOT = Path(__file__).resolve().parent.parent
LAYER_SOURCE = PROJECT_ROOT / "layers" / "common"
REQUIREMENTS = LAYER_SOURCE / "requirements.txt"
PACKAGE = "marketplace"
# Development-only subpackages that must never ship to Lambda (the embedded local runtime).
EXCLUDED_SUBPACKAGES = ("local",)
BUILD_ROOT = PROJECT_ROOT / ".build"
WHEELHOUSE = BUILD_ROOT / "wheels"
CACHE = BUILD_ROOT / "layer"
KEEP_BUILDS = 3
LAYER_ZIP = "layer.zip"
_ZIP_EPOCH = (1980, 1, 1, 0, 0, 0)
_LAYOUT = b"python/ + layer.zip v1"  # change when the layer's layout or zip format changes
_DEPS_PREFIX = "deps-"

RUNTIME = lambda_.Runtime.PYTHON_3_14
ARCHITECTURE = lambda_.Architecture.ARM_64

# Wheels for the Lambda platform: CPython 3.14 on Amazon Linux 2023 / arm64 (glibc 2.34).
PLATFORM_FLAGS: tuple[str, ...] = (
    "--only-binary=:all:",
    "--platform", "manylinux2014_aarch64",
    "--platform", "manylinux_2_28_aarch64",
    "--platform", "manylinux_2_17_aarch64",
    "--implementation", "cp",
    "--python-version", "3.14",
)  # fmt: skip
_PIP = (sys.executable, "-m", "pip", "--disable-pip-version-check", "--no-input")


class LayerBuildError(RuntimeError):
    """The layer cannot be built offline (typically: the wheelhouse has not been downloaded)."""


def download_wheels(wheelhouse: Path = WHEELHOUSE, requirements: Path = REQUIREMENTS) -> Path:
    """Download the wheels the layer needs into ``wheelhouse`` (set-up time: needs the package index)."""
    wheelhouse.mkdir(parents=True, exist_ok=True)
    _run_pip("download", "--dest", str(wheelhouse), *PLATFORM_FLAGS, "--requirement", str(requirements))
    return wheelhouse


def build_layer(
    wheelhouse: Path = WHEELHOUSE,
    requirements: Path = REQUIREMENTS,
    package_dir: Path = LAYER_SOURCE / PACKAGE,
    cache: Path = CACHE,
) -> Path:
    """Return the folder of the finished layer (``python/...`` and ``layer.zip``), built only when inputs changed."""
    if not wheelhouse.is_dir() or not any(wheelhouse.glob("*.whl")):
        raise LayerBuildError(
            f"the Lambda layer's wheelhouse {wheelhouse} is missing or empty; synth installs offline from it. "
            "Run `./dev setup` (or `python -m stacks.layer download`) once with access to the package index."
        )
    deps_key = _digest(
        [requirements.read_bytes(), "\0".join(PLATFORM_FLAGS).encode()]
        + [p.name.encode() for p in sorted(wheelhouse.glob("*.whl"))]
    )
    deps = _cached(
        cache / f"{_DEPS_PREFIX}{deps_key}", lambda tmp: _install_dependencies(tmp, wheelhouse, requirements)
    )
    layer_key = _digest([_LAYOUT, deps_key.encode(), *_package_fingerprint(package_dir)])
    layer = _cached(cache / layer_key, lambda tmp: _assemble(tmp, deps, package_dir))
    _prune(cache)
    return layer


class CommonLayer(Construct):
    """``lambda.LayerVersion`` of the locally built layer, for Python 3.14 on arm64."""

    def __init__(self, scope: Construct, construct_id: str) -> None:
        super().__init__(scope, construct_id)
        self.layer = lambda_.LayerVersion(
            self,
            "Layer",
            code=lambda_.Code.from_asset(str(build_layer() / LAYER_ZIP)),
            compatible_runtimes=[RUNTIME],
            compatible_architectures=[ARCHITECTURE],
            description=f"{PACKAGE} package and its third-party dependencies",
        )


# --- building blocks ------------------------------------------------------------------------------------


def _install_dependencies(target: Path, wheelhouse: Path, requirements: Path) -> None:
    _run_pip(
        "install",
        "--no-index",
        "--find-links", str(wheelhouse),
        *PLATFORM_FLAGS,
        "--no-compile",  # the build interpreter's .pyc files are useless to Python 3.14
        "--target", str(target / "python"),
        "--requirement", str(requirements),
    )  # fmt: skip
    # console scripts carry the build interpreter's shebang and cannot run in Lambda
    shutil.rmtree(target / "python" / "bin", ignore_errors=True)


def _assemble(target: Path, deps: Path, package_dir: Path) -> None:
    shutil.copytree(deps, target, dirs_exist_ok=True)
    destination = target / "python" / package_dir.name
    if destination.exists():
        raise LayerBuildError(f"a third-party requirement already provides {destination.name!r}")
    shutil.copytree(package_dir, destination, ignore=_ignore_package_files(package_dir))
    _zip(target / "python", target / LAYER_ZIP)


def _zip(folder: Path, archive: Path) -> None:
    """Zip ``folder`` (as its own name) with fixed order, times and modes: same inputs, same bytes."""
    with zipfile.ZipFile(archive, "w", compression=zipfile.ZIP_DEFLATED, compresslevel=6) as zf:
        for path in sorted(folder.rglob("*")):
            if path.is_file():
                info = zipfile.ZipInfo(path.relative_to(folder.parent).as_posix(), date_time=_ZIP_EPOCH)
                info.external_attr = (0o755 if path.stat().st_mode & 0o111 else 0o644) << 16
                info.compress_type = zipfile.ZIP_DEFLATED
                zf.writestr(info, path.read_bytes(), compresslevel=6)


def _ignore_package_files(package_dir: Path) -> Callable[[str, list[str]], set[str]]:
    excluded = {package_dir / name for name in EXCLUDED_SUBPACKAGES}

    def ignore(directory: str, names: list[str]) -> set[str]:
        here = Path(directory)
        return {
            name for name in names
            if name == "__pycache__" or name.endswith(".pyc") or here / name in excluded
        }  # fmt: skip

    return ignore


def _package_files(package_dir: Path) -> Iterator[Path]:
    excluded = tuple(package_dir / name for name in EXCLUDED_SUBPACKAGES)
    for path in sorted(package_dir.rglob("*")):
        if (
            path.is_file()
            and "__pycache__" not in path.parts
            and path.suffix != ".pyc"
            and not any(path.is_relative_to(ex) for ex in excluded)
        ):
            yield path


def _package_fingerprint(package_dir: Path) -> Iterator[bytes]:
    for path in _package_files(package_dir):
        yield path.relative_to(package_dir).as_posix().encode()
        yield path.read_bytes()


def _digest(parts: Sequence[bytes] | Iterator[bytes]) -> str:
    digest = hashlib.sha256()
    for part in parts:
        digest.update(hashlib.sha256(part).digest())
    return digest.hexdigest()[:20]


def _cached(final: Path, build: Callable[[Path], None]) -> Path:
    """Build into a private temporary folder and move it into place, so concurrent synths never see half."""
    if final.is_dir():
        os.utime(final)  # most recently used: pruning keeps it
        return final
    final.parent.mkdir(parents=True, exist_ok=True)
    tmp = final.parent / f".tmp-{final.name}-{os.getpid()}"
    shutil.rmtree(tmp, ignore_errors=True)
    tmp.mkdir()
    try:
        build(tmp)
        try:
            tmp.rename(final)
        except OSError:
            if not final.is_dir():  # not a concurrent build that finished first
                raise
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    return final


def _prune(cache: Path) -> None:
    """Keep the most recent builds of each kind; every source edit makes a new layer folder."""
    builds = [p for p in cache.iterdir() if p.is_dir() and not p.name.startswith(".")]
    for is_deps in (True, False):
        kind = sorted(
            (p for p in builds if p.name.startswith(_DEPS_PREFIX) == is_deps), key=lambda p: p.stat().st_mtime
        )
        for old in kind[:-KEEP_BUILDS]:
            shutil.rmtree(old, ignore_errors=True)


def _run_pip(*args: str) -> None:
    command = [*_PIP, *args]
    result = subprocess.run(command, capture_output=True, text=True, check=False)  # noqa: S603
    if result.returncode != 0:
        raise LayerBuildError(
            f"pip failed ({result.returncode}): {' '.join(command)}\n{result.stdout[-4000:]}{result.stderr[-4000:]}"
        )


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m stacks.layer", description=__doc__.splitlines()[0])
    commands = parser.add_subparsers(dest="command", required=True)
    commands.add_parser("download", help=f"download the layer's wheels into {WHEELHOUSE} (needs the index)")
    commands.add_parser("build", help=f"build the layer offline into {CACHE} and print its folder")
    args = parser.parse_args(argv)
    try:
        if args.command == "download":
            print(download_wheels())
        else:
            print(build_layer())
    except LayerBuildError as error:
        print(f"error: {error}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
