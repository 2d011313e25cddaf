"""Handlers against moto's in-process AWS: every resource created from the shared definitions."""

from __future__ import annotations

import os
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
