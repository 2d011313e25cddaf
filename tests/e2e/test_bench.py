"""The benchmark runner works and prints its table (the budget itself is judged by ``./dev bench``, not
by a timed test: this machine is too noisy for that)."""

import subprocess
import sys

import pytest

from marketplace.platform.functions import FUNCTIONS
from tests.e2e.conftest import ROOT

pytestmark = pytest.mark.slow


def test_cold_start_table_lists_every_function():
    command = [sys.executable, "-m", "bench", "--only", "cold-start", "--rounds", "1"]
    result = subprocess.run(command, cwd=ROOT, capture_output=True, text=True, timeout=300)
    assert result.returncode in (0, 1), result.stderr
    lines = result.stdout.splitlines()
    assert lines[0].startswith("Cold start: handler import + client creation vs `import boto3` + one client")
    rows = [line for line in lines if line.startswith("| ") and not line.startswith("| function")]
    assert [row.split("|")[1].strip() for row in rows] == [fn.name for fn in FUNCTIONS]
    for row in rows:
        ratio = float(row.split("|")[4])
        assert 0.2 < ratio < 10


def test_ingest_table():
    result = subprocess.run([sys.executable, "-m", "bench", "--only", "ingest", "--ingest-mib", "5"], cwd=ROOT,
                            capture_output=True, text=True, timeout=300)
    assert result.returncode in (0, 1), result.stderr
    lines = result.stdout.splitlines()
    assert lines[0].startswith("Ingest of a ") and "one SHA-256 pass + one inflate of every entry" in lines[0]
    ratio = float(lines[3].split("|")[3])
    assert 0.2 < ratio < 10
