"""AWS SDK clients, created once per process and reused across invocations.

One boto3 session serves every client: a new session per client would reload the SDK's endpoint and
retry data each time (measured in ``bench/``). The endpoint comes from the SDK's own configuration
chain (``AWS_ENDPOINT_URL``), which is how the local runtime points the very same code at its embedded
moto server.

Importing this module puts ``sdk_models/`` (the SDK's models of the services the functions call, without
their documentation: ``stacks/sdk_models.py``) first on botocore's model search path, ``AWS_DATA_PATH``, so
every client created afterwards in this process, PynamoDB's included, parses a fifth of the JSON: about
10 ms less cold start per client.
"""

from __future__ import annotations

import functools
import os
import threading
from pathlib import Path
from typing import Any

import boto3
from botocore.config import Config

from marketplace.platform import tracing

SDK_MODELS = Path(__file__).with_name("sdk_models")
_lock = threading.Lock()


def use_sdk_models() -> None:
    """Put ``SDK_MODELS`` first on ``AWS_DATA_PATH`` (once; an operator's own entries stay after it)."""
    entries = [entry for entry in os.environ.get("AWS_DATA_PATH", "").split(os.pathsep) if entry]
    if str(SDK_MODELS) not in entries and SDK_MODELS.is_dir():
        os.environ["AWS_DATA_PATH"] = os.pathsep.join([str(SDK_MODELS), *entries])


use_sdk_models()


@functools.cache
def _session() -> boto3.session.Session:
    tracing.instrument_new_sessions()  # X-Ray subsegments for its clients' calls (and PynamoDB's), if tracing
    return boto3.session.Session()


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
