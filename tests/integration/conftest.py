"""Handlers against moto's in-process AWS: every resource created from the shared definitions."""

from __future__ import annotations

import os
import uuid
from collections.abc import Iterator

import pytest
from moto import mock_aws

from marketplace.local.provision import Deployment, provision
from marketplace.platform import aws

AWS_ENV = {
    "AWS_ACCESS_KEY_ID": "testing",
    "AWS_SECRET_ACCESS_KEY": "testing",
    "AWS_SESSION_TOKEN": "testing",
    "AWS_DEFAULT_REGION": "us-east-1",
    "AWS_REGION": "us-east-1",
    "AWS_ACCOUNT_ID_ENDPOINT_MODE": "disabled",  # else DynamoDB Streams calls go to account endpoints moto ignores
    "POWERTOOLS_TRACE_DISABLED": "true",
    "POWERTOOLS_METRICS_DISABLED": "true",
}


@pytest.fixture
def deployment(monkeypatch: pytest.MonkeyPatch) -> Iterator[Deployment]:
    monkeypatch.delenv("AWS_ENDPOINT_URL", raising=False)
    for name, value in AWS_ENV.items():
        monkeypatch.setenv(name, value)
    with mock_aws():
        aws.reset_clients()
        created = provision("test")
        for name, value in created.env.items():
            monkeypatch.setenv(name, value)
        yield created
    aws.reset_clients()
    assert "AWS_ENDPOINT_URL" not in os.environ


@pytest.fixture
def moto_server(monkeypatch: pytest.MonkeyPatch) -> Iterator[dict[str, str]]:
    """moto's server on a free port with every resource provisioned; yields the environment a handler
    process needs to use it."""
    from moto.server import ThreadedMotoServer

    from marketplace.local.provision import provision
    from marketplace.platform import aws

    server = ThreadedMotoServer(ip_address="127.0.0.1", port=0, verbose=False)
    server.start()
    endpoint = f"http://127.0.0.1:{server.get_host_and_port()[1]}"
    env = {**AWS_ENV, "AWS_ENDPOINT_URL": endpoint}
    for name, value in env.items():
        monkeypatch.setenv(name, value)
    aws.reset_clients()
    try:
        deployment = provision(f"race{uuid.uuid4().hex[:8]}")  # moto's server keeps its state per process
        for name, value in deployment.env.items():
            monkeypatch.setenv(name, value)
        yield {**env, **deployment.env}
    finally:
        server.stop()
        aws.reset_clients()
