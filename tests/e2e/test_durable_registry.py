"""``marketplace serve --data-dir``: what one server acknowledged, the next one on the same directory still has,
after a graceful stop, after ``kill -9`` and after a backup is restored elsewhere; a second server on the same
directory and a damaged directory are refused with what to do."""

from __future__ import annotations

import hashlib
import json
import signal
import subprocess
import threading
import time
from pathlib import Path
from typing import Any

import pytest

from tests.e2e.conftest import MARKETPLACE, ROOT, Served, free_port, http, serving, wait_until
from tests.vsix_factory import build_vsix, incompressible_text

pytestmark = pytest.mark.slow

QUERY_HEADERS = {"Content-Type": "application/json", "Accept": "application/json;api-version=3.0-preview.1"}


def _query(served: Served, *criteria: dict[str, Any]) -> list[dict[str, Any]]:
    body = {"filters": [{"criteria": [{"filterType": 8, "value": "Microsoft.VisualStudio.Code"}, *criteria],
                         "pageNumber": 1, "pageSize": 50, "sortBy": 0, "sortOrder": 0}], "flags": 0x100 | 0x80 | 0x1}
    status, _, answer = http("POST", f"{served.base_url}/_apis/public/gallery/extensionquery",
                             json.dumps(body).encode(), QUERY_HEADERS)
    assert status == 200, answer
    return list(json.loads(answer)["results"][0]["extensions"])


def _statistic(extension: dict[str, Any], name: str) -> float:
    return next((s["value"] for s in extension.get("statistics", []) if s["statisticName"] == name), 0)


def _publish(served: Served, package: Path, token: str) -> subprocess.CompletedProcess[str]:
    return served.cli("publish", str(package), "--registry", served.base_url, "--token", token, "--quiet",
                      check=False)


def _catalog(served: Served, namespace: str) -> dict[str, Any]:
    """A namespace's extensions as Open VSX lists them, with each version's package hash."""
    status, _, body = http("GET", f"{served.base_url}/api/{namespace}")
    found: dict[str, Any] = {}
    if status == 404 and b"Namespace not found" in body:  # no extension in it yet
        return found
    assert status == 200, body
    for name in sorted(json.loads(body)["extensions"]):
        status, _, detail = http("GET", f"{served.base_url}/api/{namespace}/{name}")
        assert status == 200, detail
        extension = json.loads(detail)
        found[name] = {"versions": sorted(extension["allVersions"]), "files": _files(extension)}
    return found


def _files(extension: dict[str, Any]) -> dict[str, str]:
    """The SHA-256 of every file the extension's latest version links to, downloaded."""
    hashes = {}
    for kind, url in sorted(extension["files"].items()):
        status, _, body = http("GET", url)
        assert status == 200, (kind, url, status)
        hashes[kind] = hashlib.sha256(body).hexdigest()
    return hashes


def _sync_write(served: Served, token: str, content: str, ref: str) -> tuple[int, str]:
    headers = {"Authorization": f"Bearer {token}", "X-Account-Type": "local", "Content-Type": "text/plain",
               "If-Match": ref}
    status, answer_headers, _ = http("POST", f"{served.base_url}/sync/v1/resource/settings", content.encode(),
                                     headers)
    return status, answer_headers.get("etag", "")


def _sync_read(served: Served, token: str) -> str:
    status, _, body = http("GET", f"{served.base_url}/sync/v1/resource/settings/latest",
                           headers={"Authorization": f"Bearer {token}", "X-Account-Type": "local"})
    assert status == 200, body
    return body.decode()


def _review(served: Served, token: str, rating: int, namespace: str, name: str) -> None:
    status, _, answer = http("POST", f"{served.base_url}/api/{namespace}/{name}/review",
                             json.dumps({"rating": rating, "comment": f"rated {rating}"}).encode(),
                             {"Authorization": f"Bearer {token}", "X-Account-Type": "local",
                              "Content-Type": "application/json"})
    assert status == 201, answer


def _state(served: Served, namespace: str, name: str, sync_token: str) -> dict[str, Any]:
    """Everything the restart must keep, as clients see it."""
    _, _, detail = http("GET", f"{served.base_url}/api/{namespace}/{name}")
    extension = json.loads(detail)
    (queried,) = _query(served, {"filterType": 7, "value": f"{namespace}.{name}"})
    searched = [e["extensionName"] for e in _query(served, {"filterType": 10, "value": name})]
    return {
        "catalog": _catalog(served, namespace),
        "rating": (extension.get("averageRating"), extension.get("reviewCount")),
        "installs": _statistic(queried, "install"),
        "searched": name in searched,
        "settings": _sync_read(served, sync_token),
    }


def test_a_graceful_restart_keeps_everything(tmp_path: Path):
    namespace, name = "durapub", "kept"
    with serving(tmp_path) as first:
        token = first.cli("publisher", "create", namespace, "--owner", "alice").stdout.strip().splitlines()[-1]
        for version in ("1.0.0", "1.1.0"):
            package = build_vsix(tmp_path / f"{version}.vsix", publisher=namespace, name=name, version=version,
                                 icon=True)
            assert _publish(first, package, token).returncode == 0
        alice, bob = (first.cli("dev-token", user).stdout.strip().splitlines()[-1] for user in ("alice", "bob"))
        _review(first, alice, 5, namespace, name)
        _review(first, bob, 2, namespace, name)
        status, ref = _sync_write(first, alice, '{"editor.fontSize": 14}', "0")
        assert status == 200, ref
        status, _, _ = http("GET", f"{first.base_url}/_apis/public/gallery/publishers/{namespace}/vsextensions/"
                                   f"{name}/1.1.0/vspackage?install=true")
        assert status == 200
        wait_until(lambda: _statistic(_query(first, {"filterType": 7, "value": f"{namespace}.{name}"})[0],
                                      "install") == 1, timeout=30)
        wait_until(lambda: name in [e["extensionName"] for e in _query(first, {"filterType": 10, "value": name})],
                   timeout=30)
        before = _state(first, namespace, name, alice)
        key_before = http("GET", f"{first.base_url}/local-issuer/.well-known/jwks.json")[2]
    assert before["rating"] == (3.5, 2) and before["installs"] == 1 and before["searched"]
    assert before["catalog"][name]["versions"] == ["1.0.0", "1.1.0", "latest"]

    with serving(tmp_path, port=first.port) as second:  # the same address: the issuer's URL names it
        time.sleep(3)  # time for any replayed stream record to be (wrongly) counted again
        assert _state(second, namespace, name, alice) == before  # the old sign-in token is still valid too
        assert http("GET", f"{second.base_url}/local-issuer/.well-known/jwks.json")[2] == key_before
        # the publisher's token still works, and a published version still cannot be published again
        again = _publish(second, build_vsix(tmp_path / "again.vsix", publisher=namespace, name=name,
                                            version="1.1.0"), token)
        assert again.returncode != 0 and "already" in (again.stdout + again.stderr)
        assert "data:" in second.log.read_text() if second.log else True


def test_kill_9_after_acknowledged_writes_loses_none(tmp_path: Path):
    namespace = "killpub"
    with serving(tmp_path) as first:
        token = first.cli("publisher", "create", namespace, "--owner", "alice").stdout.strip().splitlines()[-1]
        package = build_vsix(tmp_path / "a.vsix", publisher=namespace, name="acked", version="1.0.0")
        assert _publish(first, package, token).returncode == 0  # "Published": acknowledged
        alice = first.cli("dev-token", "alice").stdout.strip().splitlines()[-1]
        refs: list[str] = []
        for n in range(5):
            status, ref = _sync_write(first, alice, json.dumps({"n": n}), refs[-1] if refs else "0")
            assert status == 200
            refs.append(ref)
        before = _catalog(first, namespace)
        first.process.send_signal(signal.SIGKILL)
        first.process.wait(10)

    with serving(tmp_path, port=first.port) as second:
        assert _catalog(second, namespace) == before
        assert json.loads(_sync_read(second, alice)) == {"n": 4}
        listed = json.loads(second.cli("token", "list", "--user", "alice", "--json").stdout)
        assert [row["state"] for row in listed] == ["active"]


def test_kill_9_during_four_publishes_leaves_each_version_whole_or_absent(tmp_path: Path):
    namespace = "racepub"
    packages = [build_vsix(tmp_path / f"p{i}.vsix", publisher=namespace, name=f"ext{i}", version="1.0.0",
                           extra_files={"extension/data.txt": incompressible_text(1_500_000, bytes([i]))})
                for i in range(4)]
    with serving(tmp_path) as first:
        token = first.cli("publisher", "create", namespace, "--owner", "alice").stdout.strip().splitlines()[-1]
        results: list[int] = []

        def publish(package: Path) -> None:
            results.append(subprocess.run(
                [str(MARKETPLACE), "publish", str(package), "--registry", first.base_url, "--token", token, "--quiet"],
                capture_output=True, text=True, env=first.env, cwd=ROOT, timeout=60).returncode)

        threads = [threading.Thread(target=publish, args=(p,)) for p in packages]
        for thread in threads:
            thread.start()
        time.sleep(1.5)  # mid-flight: uploads and ingests under way
        first.process.send_signal(signal.SIGKILL)
        first.process.wait(10)
        for thread in threads:
            thread.join(60)

    with serving(tmp_path) as second:
        time.sleep(5)  # an upload accepted before the kill is ingested now
        listed = _catalog(second, namespace)
        for i, package in enumerate(packages):
            name = f"ext{i}"
            if name in listed:  # present: every file downloadable (checked by _catalog) and the package intact
                status, _, body = http("GET", f"{second.base_url}/api/{namespace}/{name}/1.0.0/file/"
                                              f"{namespace}.{name}-1.0.0.vsix")
                assert status == 200 and body == package.read_bytes()
            else:  # absent: publishable again
                result = _publish(second, package, token)
                assert result.returncode == 0, result.stdout + result.stderr


def test_a_second_server_on_the_same_directory_is_refused(tmp_path: Path):
    with serving(tmp_path / "one") as first:
        env = {**first.env, "MARKETPLACE_STATE_FILE": str(tmp_path / "other.json")}
        result = subprocess.run([str(MARKETPLACE), "serve", "--port", str(free_port())], capture_output=True,
                                text=True, env=env, cwd=ROOT, timeout=60)
        assert result.returncode == 1
        assert f"is in use by another marketplace serve (pid {first.process.pid})" in result.stderr


def test_backup_while_serving_then_restore_gives_the_same_catalog(tmp_path: Path):
    namespace = "backpub"
    with serving(tmp_path / "live") as live:
        token = live.cli("publisher", "create", namespace, "--owner", "alice").stdout.strip().splitlines()[-1]
        for i in range(2):
            assert _publish(live, build_vsix(tmp_path / f"b{i}.vsix", publisher=namespace, name=f"b{i}",
                                             version="1.0.0"), token).returncode == 0
        before = _catalog(live, namespace)
        backed = live.cli("backup", str(tmp_path / "backup"))
        assert "Backed up" in backed.stdout
    restored = subprocess.run([str(MARKETPLACE), "restore", str(tmp_path / "backup"), "--data-dir",
                               str(tmp_path / "restored" / "data")], capture_output=True, text=True, cwd=ROOT,
                              timeout=120)
    assert restored.returncode == 0, restored.stderr
    with serving(tmp_path / "restored") as again:  # serving() uses DIR/data as the data directory
        assert _catalog(again, namespace) == before


def test_a_truncated_file_is_reported_at_start_with_the_command_that_fixes_it(tmp_path: Path):
    with serving(tmp_path) as first:
        token = first.cli("publisher", "create", "truncpub", "--owner", "alice").stdout.strip().splitlines()[-1]
        assert _publish(first, build_vsix(tmp_path / "t.vsix", publisher="truncpub", name="t", version="1.0.0"),
                        token).returncode == 0
    blobs = sorted((tmp_path / "data" / "blobs").rglob("*"), key=lambda p: p.stat().st_size if p.is_file() else 0)
    victim = blobs[-1]
    victim.write_bytes(victim.read_bytes()[:10])
    env = {k: v for k, v in first.env.items()}
    result = subprocess.run([str(MARKETPLACE), "serve", "--port", str(free_port())], capture_output=True, text=True,
                            env=env, cwd=ROOT, timeout=60)
    assert result.returncode == 1
    assert str(victim) in result.stderr and "instead of" in result.stderr
    assert "marketplace restore BACKUP" in result.stderr and "marketplace data repair" in result.stderr


def test_a_directory_of_a_newer_format_is_refused_naming_what_to_do(tmp_path: Path):
    data = tmp_path / "data"
    data.mkdir()
    (data / "FORMAT").write_text(json.dumps({"format": 99, "written_by": "9.9.9"}))
    env = {"PATH": "/usr/bin:/bin", "HOME": str(tmp_path), "MARKETPLACE_STATE_FILE": str(tmp_path / "state.json")}
    result = subprocess.run([str(MARKETPLACE), "serve", "--port", str(free_port()), "--data-dir", str(data)],
                            capture_output=True, text=True, env=env, cwd=ROOT, timeout=60)
    assert result.returncode == 1
    assert "data format 99, written by marketplace 9.9.9" in result.stderr
    assert "Run the newer marketplace" in result.stderr and "marketplace restore BACKUP" in result.stderr
    assert json.loads((data / "FORMAT").read_text())["format"] == 99  # untouched
