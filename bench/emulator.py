"""moto in-process for the benchmarks, and a meter of the time spent inside it.

What the emulator spends handling a request stands for the network round trip and the service's own work;
moto's is unlike AWS's, so benchmarks that judge our code subtract it and report it separately.
"""

from __future__ import annotations

import os
import time
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

AWS_ENV = {
    "AWS_ACCESS_KEY_ID": "bench", "AWS_SECRET_ACCESS_KEY": "bench", "AWS_SESSION_TOKEN": "bench",
    "AWS_DEFAULT_REGION": "us-east-1", "AWS_REGION": "us-east-1", "AWS_ACCOUNT_ID_ENDPOINT_MODE": "disabled",
    "POWERTOOLS_TRACE_DISABLED": "true", "POWERTOOLS_METRICS_DISABLED": "true",
}


class Emulator:
    """Time spent inside moto's request handling (its dispatcher), and the number of requests."""

    seconds = 0.0
    calls = 0

    @classmethod
    def reset(cls) -> None:
        cls.seconds, cls.calls = 0.0, 0


@contextmanager
def timed_emulator() -> Iterator[None]:
    from moto.core.botocore_stubber import BotocoreStubber

    original = BotocoreStubber.process_request

    def timed(self: BotocoreStubber, request: Any) -> Any:
        started = time.perf_counter()
        try:
            return original(self, request)
        finally:
            Emulator.seconds += time.perf_counter() - started
            Emulator.calls += 1

    BotocoreStubber.process_request = timed  # type: ignore[method-assign]
    try:
        yield
    finally:
        BotocoreStubber.process_request = original  # type: ignore[method-assign]


@contextmanager
def in_process_aws(extra_env: dict[str, str] | None = None) -> Iterator[dict[str, str]]:
    """moto in-process with every resource provisioned, as the integration tests run."""
    from moto import mock_aws

    from marketplace.local.provision import provision
    from marketplace.platform import aws

    extra = extra_env or {}
    saved = {k: os.environ.get(k) for k in (*AWS_ENV, *extra, "AWS_ENDPOINT_URL")}
    os.environ.pop("AWS_ENDPOINT_URL", None)
    os.environ.update(AWS_ENV)
    os.environ.update(extra)
    try:
        with mock_aws():
            aws.reset_clients()
            deployment = provision("bench")
            os.environ.update(deployment.env)
            yield deployment.env
    finally:
        for name, value in saved.items():
            if value is None:
                os.environ.pop(name, None)
            else:
                os.environ[name] = value
        for name in deployment_names():
            os.environ.pop(name, None)
        aws.reset_clients()


def deployment_names() -> tuple[str, ...]:
    from marketplace.platform import resources as r

    names = [t.env_var for t in r.TABLES] + [q.env_var for q in r.QUEUES] + [s.env_var for s in r.STREAMS]
    names += [b.env_var for b in r.BUCKETS] + [k.env_var for k in r.KEYS if k.env_var]
    return tuple(names)
