"""Where the operator CLI acts: the local runtime started by ``marketplace serve`` (found through the state
file it writes), an explicit AWS endpoint, or a deployed stage with the caller's AWS credentials."""

from __future__ import annotations

import json
import os
from dataclasses import dataclass
from pathlib import Path

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


def state_file() -> Path:
    """Where ``marketplace serve`` says where it runs (``MARKETPLACE_STATE_FILE`` overrides the default)."""
    if os.environ.get(STATE_FILE_VARIABLE):
        return Path(os.environ[STATE_FILE_VARIABLE])
    from marketplace.local.invoker import project_root

    return project_root() / ".build" / "local-runtime.json"


def issuer_key_path() -> Path:
    """Where the local marketplace keeps its issuer's signing key (next to the state file), for ``serve`` to use
    and ``dev-token`` to sign with."""
    from marketplace.identity.local_issuer import KEY_FILE

    return state_file().parent / KEY_FILE


def write_state(stage: str, aws_endpoint: str, base_url: str, ca_file: str | None = None, *,
                issuer_key: str | None = None, data_dir: str | None = None) -> Path:
    path = state_file()
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps({"stage": stage, "aws_endpoint": aws_endpoint, "base_url": base_url,
                                "ca_file": ca_file, "issuer_key": issuer_key, "data_dir": data_dir,
                                "pid": os.getpid()}))
    return path


def clear_state() -> None:
    state_file().unlink(missing_ok=True)


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def resolve(stage: str | None, aws_endpoint: str | None) -> Target:
    if aws_endpoint:
        return Target(stage or "local", aws_endpoint)
    if stage:
        return Target(stage, None)
    try:
        state = json.loads(state_file().read_text())
    except (OSError, ValueError) as error:
        raise NoTarget("no local marketplace is running: start one with ./dev serve, or name a deployed stage "
                       "with --stage") from error
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
