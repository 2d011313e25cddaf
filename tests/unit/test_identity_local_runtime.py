"""What the local runtime tells its handlers about token issuers: the operator's issuers plus its own, with
the way to reach its keys that works for how it listens (plain HTTP, HTTPS with a known CA, any address)."""

from __future__ import annotations

import json
import ssl
from pathlib import Path

import pytest

from marketplace.identity.config import CA_FILE_VAR, ISSUERS_VAR, parse_issuers
from marketplace.identity.local_issuer import LocalIssuer
from marketplace.local import runtime as local_runtime
from marketplace.local.runtime import LocalMarketplace
from marketplace.platform.errors import ConfigurationError

OPERATOR_ISSUER = {"name": "cognito", "issuer": "https://cognito-idp.eu-west-1.amazonaws.com/eu-west-1_abc",
                   "audiences": ["client"], "account_types": ["cognito"]}


def _environment(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, *, host: str = "127.0.0.1", tls: bool = False,
                 ca_file: Path | None = None, operator: str | None = None) -> tuple[LocalMarketplace, dict[str, str]]:
    if operator is None:
        monkeypatch.delenv(ISSUERS_VAR, raising=False)
    else:
        monkeypatch.setenv(ISSUERS_VAR, operator)
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER) if tls else None
    runtime = LocalMarketplace(host, 8123, tls=context, ca_file=ca_file, issuer_key=tmp_path / "key.pem")
    runtime.local_issuer = LocalIssuer.ensure(tmp_path / "key.pem")
    return runtime, runtime._auth_environment(local_runtime._operator_issuers())


def test_plain_http_adds_the_local_issuer_found_by_discovery(tmp_path, monkeypatch):
    _, environment = _environment(tmp_path, monkeypatch)
    assert json.loads(environment[ISSUERS_VAR]) == [
        {"name": "local", "issuer": "http://127.0.0.1:8123/local-issuer", "audiences": ["marketplace"],
         "account_types": ["local"]},
    ]
    assert CA_FILE_VAR not in environment


def test_operator_issuers_are_kept_first(tmp_path, monkeypatch):
    _, environment = _environment(tmp_path, monkeypatch, operator=json.dumps([OPERATOR_ISSUER]))
    issuers = parse_issuers(environment[ISSUERS_VAR])
    assert [i.name for i in issuers] == ["cognito", "local"]
    assert json.loads(environment[ISSUERS_VAR])[0] == OPERATOR_ISSUER


def test_malformed_operator_issuers_stop_the_start(monkeypatch):
    monkeypatch.setenv(ISSUERS_VAR, json.dumps([{"name": "no-issuer"}]))
    with pytest.raises(ConfigurationError, match=r"AUTH_ISSUERS\[0\] needs 'issuer'"):
        local_runtime._operator_issuers()


def test_https_trusts_the_local_ca(tmp_path, monkeypatch):
    _, environment = _environment(tmp_path, monkeypatch, tls=True, ca_file=tmp_path / "ca.pem")
    assert environment[CA_FILE_VAR] == str(tmp_path / "ca.pem")
    (entry,) = json.loads(environment[ISSUERS_VAR])
    assert entry["issuer"] == "https://127.0.0.1:8123/local-issuer" and "jwks" not in entry


def test_https_without_a_known_ca_publishes_the_keys_inline(tmp_path, monkeypatch):
    runtime, environment = _environment(tmp_path, monkeypatch, tls=True)
    (entry,) = json.loads(environment[ISSUERS_VAR])
    assert runtime.local_issuer is not None and entry["jwks"] == runtime.local_issuer.jwks()
    assert CA_FILE_VAR not in environment


def test_any_address_fetches_keys_over_loopback(tmp_path, monkeypatch):
    _, environment = _environment(tmp_path, monkeypatch, host="0.0.0.0")
    (entry,) = json.loads(environment[ISSUERS_VAR])
    assert entry["issuer"] == "http://0.0.0.0:8123/local-issuer"
    assert entry["jwks_uri"] == "http://127.0.0.1:8123/local-issuer/.well-known/jwks.json"
