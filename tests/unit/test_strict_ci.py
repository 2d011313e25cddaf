"""Strict CI (tests/conftest.py): with ``CI`` set, a skipped ``real_client`` test fails the run; without it the
test skips and the end of the output lists it with its reason. Checked on a tiny suite run by a real pytest,
in-process and with xdist workers (there the reports cross a process boundary)."""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]

SUITE = '''
import pytest


@pytest.fixture
def client():
    pytest.skip("the-client failed to install: step 3")


@pytest.mark.real_client
def test_missing_client():
    pytest.skip("the-client is not installed")


@pytest.mark.real_client
def test_client_that_fails_to_install(client):
    pass


@pytest.mark.real_client
def test_client_that_runs():
    pass


@pytest.mark.real_client
@pytest.mark.xfail(reason="a known bug")
def test_known_bug():
    raise AssertionError


def test_ordinary_skip():
    pytest.skip("nothing to do with a client")
'''
XDIST = ("-n", "2")


def _run(tmp_path: Path, ci: str | None, *args: str, suite: str = SUITE) -> tuple[int, str]:
    (tmp_path / "pytest.ini").write_text("[pytest]\nmarkers =\n    real_client: drives a real client\n")
    (tmp_path / "conftest.py").write_text("from tests.conftest import pytest_runtest_makereport, "
                                          "pytest_terminal_summary  # noqa: F401\n")
    (tmp_path / "test_suite.py").write_text(suite)
    env = {k: v for k, v in os.environ.items() if k not in ("CI", "PYTEST_ADDOPTS", "PYTEST_XDIST_WORKER")}
    env["PYTHONPATH"] = str(ROOT)
    if ci is not None:
        env["CI"] = ci
    result = subprocess.run([sys.executable, "-m", "pytest", "-p", "no:cacheprovider", "-q", *args],
                            cwd=tmp_path, env=env, capture_output=True, text=True, timeout=120)
    return result.returncode, result.stdout + result.stderr


def _counts(output: str) -> dict[str, int]:
    final = output.strip().splitlines()[-1]
    return {kind: int(n) for n, kind in re.findall(r"(\d+) (passed|failed|skipped|error|xfailed)", final)}


@pytest.mark.parametrize(("ci", "workers"), [(None, ()), (None, XDIST), ("", ()), ("false", ()), ("0", ())],
                         ids=["unset", "unset-xdist", "empty", "false", "0"])
def test_locally_a_missing_client_skips_and_the_summary_says_so(tmp_path: Path, ci: str | None,
                                                                 workers: tuple[str, ...]):
    status, output = _run(tmp_path, ci, *workers)
    assert status == 0, output
    assert _counts(output) == {"passed": 1, "skipped": 3, "xfailed": 1}, output
    summary = output.split("real clients NOT TESTED", 1)[1]
    assert "SKIPPED test_suite.py::test_missing_client: the-client is not installed" in summary
    assert "SKIPPED test_suite.py::test_client_that_fails_to_install: the-client failed to install: step 3" in summary
    assert "2 real-client test(s) did not run; with CI set they fail the run" in summary
    assert "test_ordinary_skip" not in summary and "test_known_bug" not in summary


@pytest.mark.parametrize(("ci", "workers"), [("true", ()), ("true", XDIST), ("1", ())],
                         ids=["true", "true-xdist", "1"])
def test_under_ci_a_missing_client_fails_the_run(tmp_path: Path, ci: str, workers: tuple[str, ...]):
    status, output = _run(tmp_path, ci, *workers)
    assert status == 1, output
    # the skip in the test's body fails it, the skip in its fixture errors it (setup): both fail the run
    assert _counts(output) == {"passed": 1, "failed": 1, "error": 1, "skipped": 1, "xfailed": 1}, output
    assert "a real-client test must not skip when CI is set: the-client is not installed" in output
    summary = output.split("real clients missing: these tests FAILED (CI is set)", 1)[1]
    assert "FAILED test_suite.py::test_missing_client: the-client is not installed" in summary
    assert "FAILED test_suite.py::test_client_that_fails_to_install: the-client failed to install: step 3" in summary
    assert "2 real-client test(s) did not run; the run fails" in summary


def test_real_clients_that_run_pass_under_ci_without_a_summary(tmp_path: Path):
    status, output = _run(tmp_path, "true", suite="import pytest\n\n\n@pytest.mark.real_client\ndef test_runs():\n"
                                                   "    pass\n")
    assert status == 0, output
    assert _counts(output) == {"passed": 1}, output
    assert "real client" not in output


def _code_server_step(tmp_path: Path, ci: str | None, install_status: int) -> subprocess.CompletedProcess[str]:
    """``dev``'s ``code_server`` function, run in a folder whose install script exits with ``install_status``."""
    dev = (ROOT / "dev").read_text()
    function = re.search(r"^code_server\(\) \{.*?^\}\n", dev, re.MULTILINE | re.DOTALL)
    assert function is not None, "dev has no code_server function"
    script = tmp_path / "scripts" / "install-code-server.sh"
    script.parent.mkdir()
    script.write_text(f"#!/usr/bin/env bash\necho installing >&2\nexit {install_status}\n")
    script.chmod(0o755)
    program = "set -euo pipefail\nsay() { echo \"==> $*\" >&2; }\n" + function[0] + "code_server\necho carried on\n"
    env = {k: v for k, v in os.environ.items() if k != "CI"}
    if ci is not None:
        env["CI"] = ci
    return subprocess.run(["bash", "-c", program], cwd=tmp_path, env=env, capture_output=True, text=True, timeout=60)


@pytest.mark.parametrize("ci", [None, "false"])
def test_dev_test_carries_on_locally_when_code_server_cannot_be_installed(tmp_path: Path, ci: str | None):
    result = _code_server_step(tmp_path, ci, install_status=1)
    assert result.returncode == 0 and result.stdout == "carried on\n", result.stderr
    assert "its end-to-end tests will skip" in result.stderr


@pytest.mark.parametrize("ci", ["true", "1"])
def test_dev_test_fails_under_ci_when_code_server_cannot_be_installed(tmp_path: Path, ci: str):
    result = _code_server_step(tmp_path, ci, install_status=1)
    assert result.returncode == 1 and result.stdout == "", result.stderr
    assert "CI is set: failing" in result.stderr


def test_an_installed_code_server_passes_under_ci(tmp_path: Path):
    result = _code_server_step(tmp_path, "true", install_status=0)
    assert result.returncode == 0 and result.stdout == "carried on\n", result.stderr
