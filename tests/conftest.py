"""Every test runs offline: a connection to anything but this machine's loopback fails the test.

Real clients (code-server, vsce, ovsx) are tested for real: a test marked ``real_client`` that skips (its
client is missing or failed to install) fails the run when ``CI`` is set (CI runs ``CI=true bash .ci/run``);
locally it stays a skip, and the end of pytest's output lists every such test and why it skipped.
"""

from __future__ import annotations

import ipaddress
import os
import socket
from collections.abc import Generator, Iterator
from typing import Any

import pytest

_real_connect = socket.socket.connect
_real_connect_ex = socket.socket.connect_ex


class NetworkAccessError(RuntimeError):
    pass


def _check(sock: socket.socket, address: Any) -> None:
    if sock.family == getattr(socket, "AF_UNIX", None):
        return
    host = address[0] if isinstance(address, tuple) else address
    if host == "localhost":
        return
    try:
        if ipaddress.ip_address(host).is_loopback:
            return
    except ValueError:
        pass
    raise NetworkAccessError(f"tests must not reach the network: connection to {address!r}")


def _connect(sock: socket.socket, address: Any) -> None:
    _check(sock, address)
    _real_connect(sock, address)


def _connect_ex(sock: socket.socket, address: Any) -> int:
    _check(sock, address)
    return _real_connect_ex(sock, address)


@pytest.fixture(autouse=True, scope="session")
def _data_directory_outside_home(tmp_path_factory: pytest.TempPathFactory) -> Iterator[None]:
    """``marketplace serve`` keeps its data in ``$MARKETPLACE_DATA_DIR`` (else in the user's home): no test may
    write a registry there, whatever server it starts. Each test gets a directory of its own (below); this one
    covers servers that module- and session-scoped fixtures start."""
    previous = os.environ.get("MARKETPLACE_DATA_DIR")
    os.environ["MARKETPLACE_DATA_DIR"] = str(tmp_path_factory.mktemp("default-data"))
    yield
    if previous is None:
        os.environ.pop("MARKETPLACE_DATA_DIR", None)
    else:
        os.environ["MARKETPLACE_DATA_DIR"] = previous


@pytest.fixture(autouse=True)
def _data_directory_per_test(tmp_path_factory: pytest.TempPathFactory, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("MARKETPLACE_DATA_DIR", str(tmp_path_factory.mktemp("data")))


@pytest.fixture(autouse=True, scope="session")
def _offline() -> Iterator[None]:
    socket.socket.connect = _connect  # type: ignore[method-assign,assignment]
    socket.socket.connect_ex = _connect_ex  # type: ignore[method-assign,assignment]
    yield
    socket.socket.connect = _real_connect  # type: ignore[method-assign]
    socket.socket.connect_ex = _real_connect_ex  # type: ignore[method-assign]



# --- real clients ---------------------------------------------------------------------------------------

REAL_CLIENT = "real_client"
_SKIPPED_CLIENT = "real_client_skipped"  # a report attribute: plain data, so it survives pytest-xdist's workers


def strict_ci() -> bool:
    """``CI`` is set (to anything but empty, ``0``, ``false`` or ``no``): a real client may not be missing."""
    return os.environ.get("CI", "").strip().lower() not in ("", "0", "false", "no")


def _skip_reason(report: pytest.TestReport) -> str:
    longrepr = report.longrepr
    if isinstance(longrepr, tuple) and len(longrepr) == 3:  # (path, line, "Skipped: why")
        return str(longrepr[2]).removeprefix("Skipped: ")
    return str(longrepr)


@pytest.hookimpl(wrapper=True)
def pytest_runtest_makereport(item: pytest.Item, call: pytest.CallInfo[None]) -> Generator[None, Any, Any]:
    """A skipped ``real_client`` test is recorded for the summary, and under CI turned into a failure."""
    report: pytest.TestReport = yield
    if report.skipped and not hasattr(report, "wasxfail") and item.get_closest_marker(REAL_CLIENT) is not None:
        reason = _skip_reason(report)
        setattr(report, _SKIPPED_CLIENT, reason)
        if strict_ci():
            report.outcome = "failed"
            report.longrepr = f"a real-client test must not skip when CI is set: {reason}"
    return report


@pytest.hookimpl(trylast=True)
def pytest_terminal_summary(terminalreporter: pytest.TerminalReporter, exitstatus: int, config: pytest.Config) -> None:
    """List the real-client tests that did not run, loudly: a green run without them proves less."""
    missed = sorted(
        {(report.nodeid, getattr(report, _SKIPPED_CLIENT)) for reports in terminalreporter.stats.values()
         for report in reports if getattr(report, _SKIPPED_CLIENT, None) is not None}
    )
    if not missed:
        return
    strict = strict_ci()
    title = "real clients missing: these tests FAILED (CI is set)" if strict else "real clients NOT TESTED"
    terminalreporter.section(title, sep="!", red=True, bold=True)
    for nodeid, reason in missed:
        terminalreporter.write_line(f"{'FAILED' if strict else 'SKIPPED'} {nodeid}: {reason}", yellow=True)
    consequence = "the run fails" if strict else "with CI set they fail the run"
    terminalreporter.write_line(f"{len(missed)} real-client test(s) did not run; {consequence}", red=True, bold=True)
