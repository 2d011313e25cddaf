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


def test_gallery_query_table():
    command = [sys.executable, "-m", "bench", "--only", "gallery-query", "--catalog", "3000", "--queries", "60"]
    result = subprocess.run(command, cwd=ROOT, capture_output=True, text=True, timeout=300)
    assert result.returncode in (0, 1), result.stderr
    lines = result.stdout.splitlines()
    assert lines[0].startswith("Gallery extensionquery with 3,000 extensions, in-process, flags 950")
    rows = {line.split("|")[1].strip(): line.split("|") for line in lines[3:6]}
    assert list(rows) == ["text search", "id lookup", "category browse"]
    for cells in rows.values():
        p50, p95, p99 = (float(cells[i]) for i in (2, 3, 4))
        assert 0 < p50 <= p95 <= p99
    assert float(rows["id lookup"][5]) == 2.0  # a Query and a BatchGet per lookup
    assert float(rows["text search"][5]) < 1.0  # the index answers: no AWS call but the loader's refresh
    memory = next(line for line in lines if line.startswith("| index memory"))
    assert 1 < float(memory.split("|")[2].split()[0]) < 512
