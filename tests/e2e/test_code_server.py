"""code-server, unmodified (pinned; installed by scripts/install-code-server.sh, which ./dev test runs), installs
and updates an extension from the local marketplace with its own CLI, configured only by
``EXTENSIONS_GALLERY`` = the ``extensionsGallery`` the marketplace prints: over HTTP, and over HTTPS with
the local CA of ``marketplace serve --tls`` given to Node."""

from __future__ import annotations

import json
import os
import re
import signal
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from marketplace.platform.endpoints import gallery_config
from tests.e2e.conftest import MARKETPLACE, ROOT, Served, free_port, wait_until
from tests.e2e.extensions import EXTENSION_ID, TOOL_PATH, publish, publisher_token, vsce_package

pytestmark = [pytest.mark.slow, pytest.mark.real_client]
INSTALLER = ROOT / "scripts" / "install-code-server.sh"
INSTALL_DIR = Path(os.environ.get("CODE_SERVER_DIR") or ROOT / ".build" / "code-server")  # as the installer
BINARY = INSTALL_DIR / "app" / "node_modules" / ".bin" / "code-server"


def _pinned_version() -> str:
    match = re.search(r"^VERSION=(\S+)$", INSTALLER.read_text(), re.MULTILINE)
    assert match, "scripts/install-code-server.sh pins no VERSION"
    return match.group(1)


@pytest.fixture(scope="module")
def code_server_binary() -> Path:
    """The installed code-server, or a skip that says why it is not there."""
    stamp = INSTALL_DIR / "installed.stamp"
    if stamp.is_file() and stamp.read_text().strip() == _pinned_version() and BINARY.exists():
        return BINARY
    failed = INSTALL_DIR / "install-failed"
    if failed.is_file():
        pytest.skip(failed.read_text().strip())
    pytest.skip(f"code-server {_pinned_version()} is not installed: run scripts/install-code-server.sh "
                "(./dev test runs it before the tests)")


class CodeServer:
    """One code-server profile (config, user data, extensions, HOME) in a folder of its own."""

    def __init__(self, binary: Path, work: Path, base_url: str, extra_env: dict[str, str] | None = None) -> None:
        self.binary, self.work = binary, work
        self.extensions = work / "extensions"
        home = work / "home"
        for folder in (home, self.extensions, work / "user-data"):
            folder.mkdir(parents=True, exist_ok=True)
        self.env = {
            "PATH": TOOL_PATH, "HOME": str(home), "XDG_CONFIG_HOME": str(home / ".config"),
            "XDG_DATA_HOME": str(home / ".local/share"), "XDG_CACHE_HOME": str(home / ".cache"),
            "EXTENSIONS_GALLERY": json.dumps(gallery_config(base_url)), **(extra_env or {}),
        }

    def run(self, *args: str) -> subprocess.CompletedProcess[str]:
        command = [str(self.binary), "--config", str(self.work / "config.yaml"),
                   "--user-data-dir", str(self.work / "user-data"), "--extensions-dir", str(self.extensions),
                   "--disable-telemetry", "--disable-update-check", *args]
        return subprocess.run(command, capture_output=True, text=True, timeout=180, env=self.env, cwd=self.work)

    def installed(self) -> dict[str, str]:
        """Extension id -> version, from code-server's extensions.json, each checked against the folder's
        package.json (what the editor would load)."""
        index = self.extensions / "extensions.json"
        if not index.exists():
            return {}
        versions = {}
        for entry in json.loads(index.read_text()):
            manifest = json.loads((self.extensions / entry["relativeLocation"] / "package.json").read_text())
            assert manifest["version"] == entry["version"]
            assert entry["metadata"]["source"] == "gallery"
            versions[entry["identifier"]["id"]] = entry["version"]
        return versions

    def listed(self) -> list[str]:
        result = self.run("--list-extensions", "--show-versions")
        assert result.returncode == 0, result.stdout + result.stderr
        return [line for line in result.stdout.splitlines() if "@" in line]


def _ok(result: subprocess.CompletedProcess[str], expected: str) -> None:
    output = result.stdout + result.stderr
    assert result.returncode == 0 and expected in output, output


def test_install_update_and_pinned_version(code_server_binary: Path, served: Served, tmp_path: Path):
    first, second = vsce_package(tmp_path, "0.0.1"), vsce_package(tmp_path, "0.0.2")
    token = publisher_token(served)
    publish(served, first, token, "0.0.1")

    editor = CodeServer(code_server_binary, tmp_path / "editor", served.base_url)
    _ok(editor.run("--install-extension", EXTENSION_ID),
        f"Extension '{EXTENSION_ID}' v0.0.1 was successfully installed.")
    assert editor.installed() == {EXTENSION_ID: "0.0.1"}

    # a newer version is published: the update is found and installed
    publish(served, second, token, "0.0.2")
    _ok(editor.run("--install-extension", EXTENSION_ID, "--force"), f"Extension '{EXTENSION_ID}' v0.0.2 was")
    assert editor.installed() == {EXTENSION_ID: "0.0.2"}
    assert editor.listed() == [f"{EXTENSION_ID}@0.0.2"]

    # an older version by name@version, although a newer one is the latest
    pinned = CodeServer(code_server_binary, tmp_path / "pinned", served.base_url)
    _ok(pinned.run("--install-extension", f"{EXTENSION_ID}@0.0.1"),
        f"Extension '{EXTENSION_ID}' v0.0.1 was successfully installed.")
    assert pinned.installed() == {EXTENSION_ID: "0.0.1"}

    missing = pinned.run("--install-extension", "somepub.no-such-extension")
    assert "Extension 'somepub.no-such-extension' not found." in missing.stdout + missing.stderr
    assert pinned.installed() == {EXTENSION_ID: "0.0.1"}


@pytest.fixture(scope="module")
def served_tls(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[Served, Path]]:
    """``marketplace serve --tls`` in its own process, with its CA in its own folder."""
    state = tmp_path_factory.mktemp("serve-tls")
    port, moto_port = free_port(), free_port()
    env = {k: v for k, v in os.environ.items() if not k.startswith("AWS_")}
    env["MARKETPLACE_STATE_FILE"] = str(state / "local-runtime.json")
    env["MARKETPLACE_DATA_DIR"] = str(state / "data")
    log = state / "serve.log"
    started = time.monotonic()
    with log.open("w") as out:
        process = subprocess.Popen(
            [str(MARKETPLACE), "serve", "--tls", "--port", str(port), "--moto-port", str(moto_port)],
            stdout=out, stderr=subprocess.STDOUT, text=True, env=env, cwd=ROOT)
    try:
        def written() -> dict[str, Any] | None:
            assert process.poll() is None, log.read_text()
            path = state / "local-runtime.json"
            return dict(json.loads(path.read_text())) if path.exists() else None

        recorded = wait_until(written, timeout=60)
        yield (Served(recorded["base_url"], f"http://127.0.0.1:{moto_port}", process, time.monotonic() - started,
                      env), Path(recorded["ca_file"]))
    finally:
        process.send_signal(signal.SIGINT)
        try:
            process.wait(timeout=20)
        except subprocess.TimeoutExpired:
            process.kill()
        print(log.read_text()[-4000:])


def test_install_over_https_trusting_the_local_ca(code_server_binary: Path, served_tls: tuple[Served, Path],
                                                  tmp_path: Path):
    served, ca = served_tls
    assert served.base_url.startswith("https://127.0.0.1:")
    publish(served, vsce_package(tmp_path, "0.0.1"), publisher_token(served), "0.0.1")

    untrusting = CodeServer(code_server_binary, tmp_path / "untrusting", served.base_url)
    refused = untrusting.run("--install-extension", EXTENSION_ID)
    assert refused.returncode != 0 and untrusting.installed() == {}
    assert "certificate" in (refused.stdout + refused.stderr).lower()

    editor = CodeServer(code_server_binary, tmp_path / "editor", served.base_url, {"NODE_EXTRA_CA_CERTS": str(ca)})
    _ok(editor.run("--install-extension", EXTENSION_ID),
        f"Extension '{EXTENSION_ID}' v0.0.1 was successfully installed.")
    assert editor.installed() == {EXTENSION_ID: "0.0.1"}
