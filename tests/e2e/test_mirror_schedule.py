"""``marketplace serve --mirror-upstream URL --mirror-allow FILE --mirror-interval SECONDS``: the local runtime runs
the mirror function on its interval, as EventBridge runs it on AWS, with the same handler and the lists read from
the files before every run; it stops cleanly with the runtime."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from tests import vsix_factory
from tests.e2e.conftest import http, serving, wait_until
from tests.fakes.openvsx_upstream import serving as upstream_serving

pytestmark = pytest.mark.slow


def _api(base_url: str, path: str) -> int:
    return http("GET", f"{base_url}/api/{path}")[0]


def test_serve_runs_the_mirror_on_its_interval(tmp_path: Path) -> None:
    allow = tmp_path / "allow.txt"
    allow.write_text("acme.app\n")
    with upstream_serving() as upstream:
        upstream.add(vsix_factory.vsix_bytes(publisher="acme", name="app",
                                             package_json_overrides={"extensionDependencies": ["acme.lib"]}))
        upstream.add(vsix_factory.vsix_bytes(publisher="acme", name="lib"))
        upstream.add(vsix_factory.vsix_bytes(publisher="acme", name="other"))
        with serving(tmp_path / "local", None, "--ephemeral", "--mirror-upstream", upstream.base,
                     "--mirror-allow", str(allow), "--mirror-interval", "1") as local:
            assert f"mirror:        {upstream.base} every 1 s" in Path(str(local.log)).read_text()
            wait_until(lambda: _api(local.base_url, "acme/app") == 200 and _api(local.base_url, "acme/lib") == 200,
                       timeout=60)
            assert _api(local.base_url, "acme/other") == 404
            allow.write_text("acme.app\nacme.other\n")  # the next run reads the file again
            wait_until(lambda: _api(local.base_url, "acme/other") == 200, timeout=60)
            _, _, body = http("GET", f"{local.base_url}/healthz")
            health = json.loads(body)
            [(name, schedule)] = [(n, s) for n, s in health["event_sources"].items() if n.startswith("schedule:")]
            assert name == "schedule:rate(6 hours)->mirror" and schedule["alive"] and schedule["last_error"] is None
            assert health["functions"]["mirror"] == "loaded"
        assert local.process.returncode == 0  # stopped cleanly, the scheduler with it


def test_serve_refuses_a_mirror_without_an_allow_list(tmp_path: Path) -> None:
    import subprocess

    from tests.e2e.conftest import MARKETPLACE, ROOT

    result = subprocess.run([str(MARKETPLACE), "serve", "--ephemeral", "--mirror-upstream", "https://open-vsx.org"],
                            capture_output=True, text=True, timeout=60, cwd=ROOT)
    assert result.returncode == 2 and "--mirror-allow FILE" in result.stderr
    bad = tmp_path / "allow.txt"
    bad.write_text("acme.app latest=some\n")
    result = subprocess.run([str(MARKETPLACE), "serve", "--ephemeral", "--mirror-upstream", "https://open-vsx.org",
                             "--mirror-allow", str(bad)], capture_output=True, text=True, timeout=60, cwd=ROOT)
    assert result.returncode == 2 and f"{bad}:1: latest='some'" in result.stderr


def test_mirror_configure_checks_and_uploads_the_lists(tmp_path: Path) -> None:
    allow, deny, bad = tmp_path / "allow.txt", tmp_path / "deny.txt", tmp_path / "bad.txt"
    allow.write_text("redhat.java version=^1.30.0\ngolang\n")
    deny.write_text("golang.bad\n")
    bad.write_text("redhat.java colour=red\n")
    with serving(tmp_path / "local", None, "--ephemeral") as local:
        s3 = local.client("s3")
        bucket = "marketplace-local-packages"

        def stored(key: str) -> bytes | None:
            try:
                return bytes(s3.get_object(Bucket=bucket, Key=key)["Body"].read())
            except s3.exceptions.NoSuchKey:
                return None

        refused = local.cli("mirror", "configure", "--allow", str(bad), check=False)
        assert refused.returncode == 1 and f"{bad}:1: unknown option 'colour'" in refused.stderr
        assert stored("private/mirror/allow.txt") is None  # nothing uploaded

        done = local.cli("mirror", "configure", "--allow", str(allow), "--deny", str(deny), "--json")
        assert json.loads(done.stdout) == {"bucket": bucket, "allow": ["redhat.java version=^1.30.0", "golang"],
                                           "deny": ["golang.bad"]}
        assert stored("private/mirror/allow.txt") == allow.read_bytes()
        assert stored("private/mirror/deny.txt") == deny.read_bytes()

        local.cli("mirror", "configure", "--allow", str(allow))  # the lists are what the last configure said
        assert stored("private/mirror/deny.txt") is None and stored("private/mirror/allow.txt") == allow.read_bytes()
        removed = local.cli("mirror", "configure", "--remove")
        assert "mirrors nothing" in removed.stdout and stored("private/mirror/allow.txt") is None
