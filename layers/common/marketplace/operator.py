"""Where the operator CLI acts: the local runtime started by ``marketplace serve`` (found through the state
file it writes), an explicit AWS endpoint, or a deployed stage with the caller's AWS credentials."""

from __future__ import annotations

import hashlib
import json
import os
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import urlsplit

from marketplace.platform import aws
from marketplace.platform import resources as r

LOCAL_CREDENTIALS = {"AWS_ACCESS_KEY_ID": "local", "AWS_SECRET_ACCESS_KEY": "local", "AWS_SESSION_TOKEN": "local"}


class NoTarget(RuntimeError):
    pass


@dataclass(frozen=True)
class Target:
    stage: str
    aws_endpoint: str | None
    base_url: str | None = None
    ca_file: str | None = None  # the local CA when the runtime serves HTTPS (``marketplace serve --tls``)
    issuer_key: str | None = None  # the local issuer's signing key (``marketplace dev-token``)
    data_dir: str | None = None  # the data directory the local runtime serves from (``marketplace backup``)

    def describe(self) -> str:
        return f"local marketplace ({self.aws_endpoint})" if self.aws_endpoint else f"stage {self.stage!r} on AWS"


STATE_FILE_VARIABLE = "MARKETPLACE_STATE_FILE"
RUNTIMES_VARIABLE = "MARKETPLACE_RUNTIMES_DIR"


def state_file() -> Path:
    """Where ``marketplace serve`` says where it runs (``MARKETPLACE_STATE_FILE`` overrides the default)."""
    if os.environ.get(STATE_FILE_VARIABLE):
        return Path(os.environ[STATE_FILE_VARIABLE])
    from marketplace.local.invoker import project_root

    return project_root() / ".build" / "local-runtime.json"


def runtimes_dir() -> Path:
    """Where every running ``marketplace serve`` of this user leaves a copy of its state, so ``--registry URL``
    finds the one to act on when several run on one machine (``MARKETPLACE_RUNTIMES_DIR`` overrides)."""
    if os.environ.get(RUNTIMES_VARIABLE):
        return Path(os.environ[RUNTIMES_VARIABLE])
    base = os.environ.get("XDG_STATE_HOME") or str(Path.home() / ".local" / "state")
    return Path(base) / "marketplace" / "runtimes"


def _runtime_entry(base_url: str) -> Path:
    return runtimes_dir() / (hashlib.sha256(normalized_url(base_url).encode()).hexdigest()[:24] + ".json")


def normalized_url(url: str) -> str:
    """A marketplace's address as ``--registry`` compares it: scheme and host in lower case, no trailing slash,
    ``localhost`` and ``[::1]`` read as ``127.0.0.1``."""
    parts = urlsplit(url.strip())
    host = (parts.hostname or "").lower()
    host = "127.0.0.1" if host in ("localhost", "::1") else host
    port = f":{parts.port}" if parts.port else ""
    return f"{parts.scheme.lower()}://{host}{port}{parts.path.rstrip('/')}"


def issuer_key_path() -> Path:
    """Where the local marketplace keeps its issuer's signing key (next to the state file), for ``serve`` to use
    and ``dev-token`` to sign with."""
    from marketplace.identity.local_issuer import KEY_FILE

    return state_file().parent / KEY_FILE


def write_state(stage: str, aws_endpoint: str, base_url: str, ca_file: str | None = None, *,
                issuer_key: str | None = None, data_dir: str | None = None) -> Path:
    path = state_file()
    path.parent.mkdir(parents=True, exist_ok=True)
    state = json.dumps({"stage": stage, "aws_endpoint": aws_endpoint, "base_url": base_url, "ca_file": ca_file,
                        "issuer_key": issuer_key, "data_dir": data_dir, "pid": os.getpid()})
    path.write_text(state)
    try:
        entry = _runtime_entry(base_url)
        entry.parent.mkdir(parents=True, exist_ok=True)
        entry.write_text(state)
    except OSError:  # a read-only home: --registry cannot find this one, the state file still works
        pass
    return path


def clear_state() -> None:
    try:
        state = json.loads(state_file().read_text())
        if int(state.get("pid", 0)) == os.getpid():
            _runtime_entry(str(state.get("base_url") or "")).unlink(missing_ok=True)
    except (OSError, ValueError):
        pass
    state_file().unlink(missing_ok=True)


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def _registered(registry: str) -> dict[str, object]:
    """The state of the running local marketplace at ``registry``; ``NoTarget`` naming the running ones."""
    wanted = normalized_url(registry)
    running: list[str] = []
    for entry in sorted(runtimes_dir().glob("*.json")) if runtimes_dir().is_dir() else []:
        try:
            state = json.loads(entry.read_text())
        except (OSError, ValueError):
            continue
        if not _alive(int(state.get("pid", 0))):
            entry.unlink(missing_ok=True)  # a marketplace that stopped without saying so
            continue
        if normalized_url(str(state.get("base_url") or "")) == wanted:
            return dict(state)
        running.append(str(state.get("base_url")))
    found = ", ".join(running) or "none"
    raise NoTarget(f"no local marketplace is running at {registry} (running here: {found})")


def resolve(stage: str | None, aws_endpoint: str | None, registry: str | None = None) -> Target:
    """The target named by ``--aws-endpoint``, ``--stage`` or ``--registry`` (a running local marketplace's
    address), else the local marketplace of the state file."""
    if aws_endpoint:
        return Target(stage or "local", aws_endpoint)
    if stage:
        return Target(stage, None)
    if registry:
        state = _registered(registry)
    else:
        try:
            state = json.loads(state_file().read_text())
        except (OSError, ValueError) as error:
            raise NoTarget("no local marketplace is running: start one with ./dev serve, or name a deployed "
                           "stage with --stage") from error
        if not _alive(int(state.get("pid", 0))):
            raise NoTarget("the local marketplace that wrote the state file has stopped: start it with ./dev serve")
    return Target(str(state["stage"]), str(state["aws_endpoint"]), str(state.get("base_url") or "") or None,
                  str(state.get("ca_file") or "") or None, str(state.get("issuer_key") or "") or None,
                  str(state.get("data_dir") or "") or None)


def activate(target: Target) -> None:
    """Point this process's SDK and data access at the target's resources."""
    if target.aws_endpoint:
        os.environ.update(LOCAL_CREDENTIALS)
        os.environ["AWS_ENDPOINT_URL"] = target.aws_endpoint
        os.environ.setdefault("AWS_DEFAULT_REGION", "us-east-1")
    for table in r.TABLES:
        os.environ[table.env_var] = table.physical_name(target.stage)
    aws.reset_clients()
