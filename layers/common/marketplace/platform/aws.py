"""AWS SDK clients, created once per process and reused across invocations.

One boto3 session serves every client: a new session per client would reload the SDK's endpoint and
retry data each time (measured in ``bench/``). The endpoint comes from the SDK's own configuration
chain (``AWS_ENDPOINT_URL``), which is how the local runtime points the very same code at its embedded
moto server.
"""

from __future__ import annotations

import functools
import os
import threading
from typing import Any

import boto3
from botocore.config import Config

from marketplace.platform import tracing

_lock = threading.Lock()


@functools.cache
def _session() -> boto3.session.Session:
    return tracing.instrument(boto3.session.Session())  # X-Ray subsegments for its clients' calls, if tracing


@functools.cache
def client(service: str) -> Any:
    """A shared client for ``service`` (``"s3"``, ``"dynamodb"``, ``"kinesis"`` ...)."""
    options: dict[str, Any] = {
        "retries": {"mode": "standard", "max_attempts": 3},
        "connect_timeout": 2,
        "read_timeout": 10,
    }
    if service == "s3":
        options["signature_version"] = "s3v4"
        if os.environ.get("AWS_ENDPOINT_URL"):
            # an emulated endpoint on an IP address cannot serve virtual-hosted-style bucket names
            options["s3"] = {"addressing_style": "path"}
    with _lock:  # sessions are not thread-safe; the local runtime runs handlers on several threads
        return _session().client(service, config=Config(**options))


def reset_clients() -> None:
    """Forget cached clients and the session (the local runtime calls this after it changes the endpoint)."""
    client.cache_clear()
    _session.cache_clear()
