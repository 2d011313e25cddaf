"""The external scanner hook: an operator's own scanner (an antivirus, a malware service) asked about each
package before it is published. Optional; with none configured it returns no findings and does nothing.

Two kinds, either or both:

* a command (``SCAN_EXTERNAL_COMMAND``, e.g. ``clamscan --no-summary {path}``): split like a shell would
  (``shlex``) but run without one, ``{path}`` replaced by the package's local path (appended when the command
  has no ``{path}``), in a clean environment and its own process group. Exit 0 is clean; exit 1 means
  findings, one per line of its output (the first 20, each cut to 300 characters), which refuse the package;
  any other exit, or a command that cannot start, is a failed scan.
* a Lambda function (``SCAN_EXTERNAL_LAMBDA``, a name or ARN), invoked synchronously with
  ``{"bucket", "key", "sha256", "extension", "version"}`` (where the uploaded package can be read) and
  answering ``{"verdict": "clean" | "malicious" | "suspicious", "findings": [{"message", "file"?}]}``:
  malicious refuses the package, suspicious holds it for review (quarantine).

A scanner that does not answer within ``SCAN_EXTERNAL_TIMEOUT_SECONDS`` (default 60, at most 600; the command
and everything it started is killed), or fails, refuses the upload with a "try again" reason; with
``SCAN_EXTERNAL_ON_FAILURE=warn`` the package is published with a warning instead.

Whatever a scanner says is untrusted text: its output is read up to a size cap, and every message loses its
control, invisible and line-breaking characters before the publisher sees it.
"""

from __future__ import annotations

import contextlib
import functools
import json
import logging
import os
import selectors
import shlex
import signal
import subprocess
import tempfile
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from marketplace.platform import text
from marketplace.platform.config import location
from marketplace.platform.errors import ConfigurationError
from marketplace.platform.resources import PACKAGES_BUCKET
from marketplace.publishing.scanning import QUARANTINE, REJECT, WARN, Finding, Subject

log = logging.getLogger(__name__)

COMMAND_SETTING = "SCAN_EXTERNAL_COMMAND"
LAMBDA_SETTING = "SCAN_EXTERNAL_LAMBDA"
TIMEOUT_SETTING = "SCAN_EXTERNAL_TIMEOUT_SECONDS"
ON_FAILURE_SETTING = "SCAN_EXTERNAL_ON_FAILURE"
SETTINGS = (COMMAND_SETTING, LAMBDA_SETTING, TIMEOUT_SETTING, ON_FAILURE_SETTING)
DEFAULT_TIMEOUT_SECONDS = 60
MAX_TIMEOUT_SECONDS = 600
ON_FAILURE_CHOICES = (REJECT, WARN)
PATH_PLACEHOLDER = "{path}"

MAX_OUTPUT_BYTES = 64 * 1024  # of each of stdout and stderr; the rest is read and dropped
MAX_ANSWER_BYTES = 256 * 1024  # of a Lambda scanner's answer
MAX_FINDINGS = 20
MAX_MESSAGE_CHARS = 300
MAX_FILE_CHARS = 200
_KILL_WAIT_SECONDS = 5.0

COMMAND_RULE = "external.command"
LAMBDA_RULE = "external.lambda"
TIMEOUT_RULE = "external.timeout"
FAILED_RULE = "external.failed"
VERDICT_SEVERITIES = {"malicious": REJECT, "suspicious": QUARANTINE}

# the only variables a command gets: where to find programs, a UTF-8 locale, a temporary folder
_LOCALE = "C.UTF-8"


class ScanFailed(Exception):
    """The external scanner gave no usable answer; ``detail`` is for the operator's log, never the publisher."""

    def __init__(self, detail: str, *, timed_out: bool = False) -> None:
        super().__init__(detail)
        self.detail = detail
        self.timed_out = timed_out


@dataclass(frozen=True)
class Settings:
    command: tuple[str, ...] | None
    function: str | None
    timeout_seconds: int
    on_failure: str  # REJECT | WARN

    @property
    def configured(self) -> bool:
        return self.command is not None or self.function is not None

    @classmethod
    def from_environment(cls, environment: Mapping[str, str] | None = None) -> Settings:
        """The operator's settings; a bad value raises ``ConfigurationError`` saying which and why (the timeout
        and the policy are read only when a scanner is configured)."""
        env = os.environ if environment is None else environment
        raw_command = env.get(COMMAND_SETTING, "").strip()
        function = env.get(LAMBDA_SETTING, "").strip() or None
        if not raw_command and function is None:
            return cls(None, None, DEFAULT_TIMEOUT_SECONDS, REJECT)
        return cls(
            command=parse_command(raw_command) if raw_command else None,
            function=function,
            timeout_seconds=_timeout(env.get(TIMEOUT_SETTING, "").strip()),
            on_failure=_on_failure(env.get(ON_FAILURE_SETTING, "").strip().lower()),
        )


def _timeout(raw: str) -> int:
    if not raw:
        return DEFAULT_TIMEOUT_SECONDS
    try:
        value = int(raw)
    except ValueError:
        raise ConfigurationError(f"{TIMEOUT_SETTING} must be a whole number of seconds, not {raw!r}") from None
    if not 1 <= value <= MAX_TIMEOUT_SECONDS:
        raise ConfigurationError(f"{TIMEOUT_SETTING} must be 1 to {MAX_TIMEOUT_SECONDS} seconds, not {value}")
    return value


def _on_failure(raw: str) -> str:
    if not raw:
        return REJECT
    if raw not in ON_FAILURE_CHOICES:
        raise ConfigurationError(f"{ON_FAILURE_SETTING} must be {' or '.join(ON_FAILURE_CHOICES)}, not {raw!r}")
    return raw


def parse_command(command: str) -> tuple[str, ...]:
    """The command's arguments, split as a POSIX shell splits words (quotes, backslashes), nothing else: no
    variables, globs, pipes or redirections, since no shell ever runs it."""
    try:
        arguments = tuple(shlex.split(command))
    except ValueError as error:
        raise ConfigurationError(f"{COMMAND_SETTING} cannot be split into arguments: {error}") from None
    if not arguments:
        raise ConfigurationError(f"{COMMAND_SETTING} names no program")
    return arguments


def command_arguments(command: Sequence[str], path: str) -> list[str]:
    """``command`` with every ``{path}`` replaced by ``path`` (inside an argument too: ``--file={path}``); the
    path is appended when no argument names it. The path stays one argument, whatever it contains."""
    if not any(PATH_PLACEHOLDER in argument for argument in command):
        return [*command, path]
    return [argument.replace(PATH_PLACEHOLDER, path) for argument in command]


def clean_environment() -> dict[str, str]:
    """The command's whole environment: none of the function's own variables (credentials, table names)."""
    return {"PATH": os.environ.get("PATH") or os.defpath, "LANG": _LOCALE, "LC_ALL": _LOCALE,
            "TMPDIR": tempfile.gettempdir()}


def clean_text(value: str, limit: int) -> str:
    """``value`` on one line: control, invisible and line-breaking characters become spaces, runs of spaces
    one, and at most ``limit`` characters (an ellipsis marks a cut)."""
    words = "".join(" " if text.is_forbidden(c) or c.isspace() else c for c in value).split()
    line = " ".join(words)
    return line if len(line) <= limit else line[:limit - 1].rstrip() + "…"


@dataclass(frozen=True)
class CommandResult:
    returncode: int
    stdout: bytes
    stderr: bytes


def run_command(arguments: Sequence[str], timeout_seconds: float,
                environment: Mapping[str, str] | None = None) -> CommandResult:
    """Run ``arguments`` (never through a shell) in a new process group, reading at most ``MAX_OUTPUT_BYTES`` of
    each output (the rest is drained and dropped, so the command never blocks on a full pipe).

    When the command ends, or the time is up, its whole process group is killed: nothing it started outlives
    the scan. Raises ``ScanFailed`` on timeout (``timed_out``) or when the program cannot start."""
    try:
        process = subprocess.Popen(  # noqa: S603  # the operator's command, split by shlex, no shell
            list(arguments), stdin=subprocess.DEVNULL, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
            env=dict(clean_environment() if environment is None else environment), close_fds=True,
            start_new_session=True)
    except OSError as error:
        raise ScanFailed(f"the command {arguments[0]!r} could not start: {error.strerror or error}") from None
    deadline = time.monotonic() + timeout_seconds
    buffers = {"stdout": bytearray(), "stderr": bytearray()}
    returncode: int | None = None
    try:
        _read_outputs(process, deadline, buffers)
        with contextlib.suppress(subprocess.TimeoutExpired):  # it may close its outputs and go on running
            returncode = process.wait(max(0.0, deadline - time.monotonic()))
    finally:
        _kill_group(process)  # it has answered or run out of time: whatever it left running goes
        with contextlib.suppress(subprocess.TimeoutExpired):
            process.wait(_KILL_WAIT_SECONDS)
        for stream in (process.stdout, process.stderr):
            if stream is not None:
                stream.close()
    if returncode is None:
        raise ScanFailed(f"the command did not finish within {timeout_seconds:g} s", timed_out=True)
    return CommandResult(returncode, bytes(buffers["stdout"]), bytes(buffers["stderr"]))


def _read_outputs(process: subprocess.Popen[bytes], deadline: float, buffers: dict[str, bytearray]) -> None:
    """Read both outputs until they close or the deadline passes, keeping the first ``MAX_OUTPUT_BYTES`` of each.
    Once the command has exited, its process group is killed, so a child holding the pipes open cannot hang the
    scan until the deadline."""
    with selectors.DefaultSelector() as selector:
        for name in buffers:
            selector.register(getattr(process, name), selectors.EVENT_READ, name)
        while selector.get_map():
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                return
            if process.poll() is not None:
                _kill_group(process)
            for key, _ in selector.select(min(remaining, 0.2)):
                chunk = os.read(key.fd, 65536)
                if not chunk:
                    selector.unregister(key.fileobj)
                    continue
                buffer = buffers[key.data]
                buffer += chunk[:max(0, MAX_OUTPUT_BYTES - len(buffer))]


def _kill_group(process: subprocess.Popen[bytes]) -> None:
    with contextlib.suppress(ProcessLookupError, PermissionError):
        os.killpg(process.pid, signal.SIGKILL)


def command_findings(result: CommandResult) -> list[Finding]:
    """Exit 0: clean; exit 1: one refusing finding per non-empty output line; anything else: ``ScanFailed``."""
    if result.returncode == 0:
        return []
    if result.returncode != 1:
        stderr = clean_text(result.stderr.decode("utf-8", "replace"), MAX_MESSAGE_CHARS)
        raise ScanFailed(f"the command exited with status {result.returncode}" + (f": {stderr}" if stderr else ""))
    lines = [clean_text(line, MAX_MESSAGE_CHARS) for line in result.stdout.decode("utf-8", "replace").split("\n")]
    messages = [line for line in lines if line][:MAX_FINDINGS]
    if not messages:
        messages = ["the external scanner reported the package without saying why"]
    return [Finding(COMMAND_RULE, message, severity=REJECT) for message in messages]


# --- the Lambda function ---------------------------------------------------------------------------------------

# (function name or ARN, request payload, timeout in seconds) -> the function's answer; raises on failure
Invoker = Callable[[str, bytes, float], bytes]


def lambda_request(subject: Subject, bucket: str) -> dict[str, str]:
    """Where the scanner function reads the package: the uploaded object (kept until the upload settles)."""
    return {"bucket": bucket, "key": f"{PACKAGES_BUCKET.upload_prefix}{subject.upload_id}", "sha256": subject.sha256,
            "extension": subject.package.id, "version": subject.package.version}


def lambda_findings(answer: bytes) -> list[Finding]:
    """The findings of a scanner function's answer; an answer that is not one raises ``ScanFailed``."""
    if len(answer) > MAX_ANSWER_BYTES:
        raise ScanFailed(f"the scanner function answered {len(answer)} bytes; at most {MAX_ANSWER_BYTES} are read")
    try:
        parsed: Any = json.loads(answer)
    except ValueError:
        raise ScanFailed("the scanner function's answer is not JSON") from None
    if not isinstance(parsed, dict):
        raise ScanFailed("the scanner function's answer is not a JSON object")
    verdict = parsed.get("verdict")
    if verdict == "clean":
        return []
    severity = VERDICT_SEVERITIES.get(verdict) if isinstance(verdict, str) else None
    if severity is None:
        raise ScanFailed("the scanner function's verdict is not clean, malicious or suspicious")
    reported = parsed.get("findings", [])
    if not isinstance(reported, list):
        raise ScanFailed("the scanner function's findings are not a list")
    findings: list[Finding] = []
    for item in reported:
        if len(findings) == MAX_FINDINGS:
            break
        if not isinstance(item, dict) or not isinstance(item.get("message"), str):
            continue
        message = clean_text(item["message"], MAX_MESSAGE_CHARS)
        file = clean_text(item["file"], MAX_FILE_CHARS) if isinstance(item.get("file"), str) else ""
        if message:
            findings.append(Finding(LAMBDA_RULE, message, file=file or None, severity=severity))
    if not findings:
        findings.append(Finding(LAMBDA_RULE, f"the external scanner found the package {verdict}", severity=severity))
    return findings


@functools.cache
def _lambda_client(timeout_seconds: float) -> Any:
    import boto3
    from botocore.config import Config

    config = Config(connect_timeout=5, read_timeout=timeout_seconds,
                    retries={"mode": "standard", "total_max_attempts": 1})  # once: a retry would double the wait
    return boto3.session.Session().client("lambda", config=config)


def invoke_lambda(function: str, payload: bytes, timeout_seconds: float) -> bytes:
    """Invoke ``function`` synchronously, once, waiting at most ``timeout_seconds`` for its answer."""
    from botocore.exceptions import BotoCoreError, ClientError, ReadTimeoutError

    try:
        response = _lambda_client(timeout_seconds).invoke(FunctionName=function, InvocationType="RequestResponse",
                                                          Payload=payload)
        answer: bytes = response["Payload"].read(MAX_ANSWER_BYTES + 1)
    except ReadTimeoutError:
        raise ScanFailed(f"the scanner function did not answer within {timeout_seconds:g} s", timed_out=True) \
            from None
    except (BotoCoreError, ClientError) as error:
        raise ScanFailed(f"the scanner function could not be invoked: {error}") from None
    if response.get("FunctionError"):
        raise ScanFailed(f"the scanner function failed ({response['FunctionError']}): "
                         f"{clean_text(answer.decode('utf-8', 'replace'), MAX_MESSAGE_CHARS)}")
    return answer


# --- the scanner -----------------------------------------------------------------------------------------------

class ExternalScanner:
    """The operator's external scanner (``SCAN_EXTERNAL_COMMAND``, ``SCAN_EXTERNAL_LAMBDA``); ``settings`` and
    ``invoker`` are for tests (the environment's settings and the AWS SDK otherwise)."""

    name = "external"

    def __init__(self, settings: Settings | None = None, invoker: Invoker | None = None) -> None:
        self._settings = settings
        self._invoker = invoker or invoke_lambda

    def scan(self, subject: Subject) -> list[Finding]:
        settings = self._settings or Settings.from_environment()
        if not settings.configured:
            return []
        try:
            findings: list[Finding] = []
            if settings.command is not None:
                arguments = command_arguments(settings.command, str(subject.archive.path))
                findings += command_findings(run_command(arguments, settings.timeout_seconds))
            if settings.function is not None:
                request = lambda_request(subject, location(PACKAGES_BUCKET))
                answer = self._invoker(settings.function, json.dumps(request).encode(), settings.timeout_seconds)
                findings += lambda_findings(answer)
        except ScanFailed as failed:
            log.warning("external scanner failed", extra={"upload": subject.upload_id, "detail": failed.detail,
                                                          "timed_out": failed.timed_out})
            return [failure_finding(failed, settings)]
        return findings


def failure_finding(failed: ScanFailed, settings: Settings) -> Finding:
    """What the publisher is told when the scanner gave no answer: refused (try again), or published with a
    warning under ``SCAN_EXTERNAL_ON_FAILURE=warn``."""
    rule = TIMEOUT_RULE if failed.timed_out else FAILED_RULE
    what = (f"the external scanner did not answer within {settings.timeout_seconds} s" if failed.timed_out
            else "the external scanner could not check the package")
    if settings.on_failure == WARN:
        return Finding(rule, f"{what}; the package was published without its verdict", severity=WARN)
    return Finding(rule, f"{what}; please upload the package again", severity=REJECT)
