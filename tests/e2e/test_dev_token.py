"""The local runtime as an OIDC issuer: ``marketplace dev-token USER`` prints a token that the runtime's
discovery document and key set (served by its front door) verify, and handlers running inside the runtime
fetch those keys from it, over HTTPS too when it serves HTTPS with its local CA."""

from __future__ import annotations

import json
import os
import ssl
import stat
import subprocess
import urllib.error
import urllib.request
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import jwt
import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec

from marketplace.identity import authenticate, oidc
from marketplace.identity.config import CA_FILE_VAR, ISSUERS_VAR
from marketplace.identity.local_issuer import LocalIssuer, issuer_entry
from marketplace.local import tls as local_tls
from marketplace.local.durable.directory import ISSUER_KEY_FILE
from marketplace.local.runtime import LocalMarketplace
from marketplace.platform.errors import MarketplaceError, Unauthorized
from marketplace.platform.functions import SYNC
from tests.e2e.conftest import MARKETPLACE, ROOT, Served, http

pytestmark = pytest.mark.slow


@pytest.fixture(autouse=True)
def _fresh_key_cache() -> Iterator[None]:
    oidc.reset()
    yield
    oidc.reset()


def _claims(token: str) -> dict[str, Any]:
    return dict(jwt.decode(token, options={"verify_signature": False}))


def test_dev_token_verifies_against_the_served_issuer(served: Served, monkeypatch: pytest.MonkeyPatch) -> None:
    output = served.cli("dev-token", "alice").stdout
    assert output.count("\n") == 1 and output.count(".") == 2  # the token alone, for $(marketplace dev-token ...)
    token = output.strip()
    issuer = f"{served.base_url}/local-issuer"
    claims = _claims(token)
    assert (claims["iss"], claims["sub"], claims["aud"]) == (issuer, "alice", "marketplace")
    assert claims["exp"] - claims["iat"] == 12 * 3600

    status, headers, body = http("GET", f"{issuer}/.well-known/openid-configuration")
    assert status == 200 and headers["content-type"] == "application/json"
    discovery = json.loads(body)
    assert discovery["issuer"] == issuer and discovery["jwks_uri"] == f"{issuer}/.well-known/jwks.json"
    status, _, body = http("GET", discovery["jwks_uri"])
    assert status == 200
    assert [key["kid"] for key in json.loads(body)["keys"]] == [jwt.get_unverified_header(token)["kid"]]

    monkeypatch.setenv(ISSUERS_VAR, json.dumps([issuer_entry(served.base_url)]))
    principal = authenticate({"authorization": f"Bearer {token}", "x-account-type": "local"})
    assert (principal.provider, principal.issuer, principal.subject) == ("local", issuer, "alice")
    with pytest.raises(Unauthorized, match="expired"):
        authenticate({"authorization": f"Bearer {_expired(served, token)}", "x-account-type": "local"})


def _expired(served: Served, token: str) -> str:
    """The same token signed with the served runtime's key, its expiry in the past (the CLI mints none such)."""
    key = serialization.load_pem_private_key(_key_file(served).read_bytes(), password=None)
    assert isinstance(key, ec.EllipticCurvePrivateKey)
    claims = {**_claims(token), "iat": 1_000_000, "nbf": 1_000_000, "exp": 1_000_060}
    return jwt.encode(claims, key, algorithm="ES256", headers=jwt.get_unverified_header(token))


def _key_file(served: Served) -> Path:
    return Path(served.env["MARKETPLACE_DATA_DIR"]) / ISSUER_KEY_FILE  # the served data directory's


def test_dev_token_options_and_errors(served: Served, tmp_path: Path) -> None:
    claims = _claims(served.cli("dev-token", "bob", "--ttl", "90").stdout.strip())
    assert claims["sub"] == "bob" and claims["exp"] - claims["iat"] == 90

    for args, fragment in ((("dev-token", "bob", "--ttl", "0"), "lifetime"), (("dev-token", " "), "user")):
        result = served.cli(*args, check=False)
        assert result.returncode == 2 and fragment in result.stderr and not result.stdout

    assert stat.S_IMODE(_key_file(served).stat().st_mode) == 0o600

    elsewhere = {**served.env, "MARKETPLACE_STATE_FILE": str(tmp_path / "no-runtime.json")}
    result = subprocess.run([str(MARKETPLACE), "dev-token", "alice"], capture_output=True, text=True,
                            env=elsewhere, cwd=ROOT, timeout=60)
    assert result.returncode == 2 and "no local marketplace is running" in result.stderr and not result.stdout


def test_issuer_documents_answer_only_get(served: Served) -> None:
    status, headers, _ = http("POST", f"{served.base_url}/local-issuer/.well-known/jwks.json", b"{}")
    assert status == 405 and headers["allow"] == "GET, HEAD"
    assert http("GET", f"{served.base_url}/local-issuer/.well-known/other")[0] == 404


# ---------------------------------------------------------------------------------------------------------------
# A handler inside the runtime checks the token: it fetches the keys from the front door it runs behind


def _whoami(event: dict[str, Any], _context: Any) -> dict[str, Any]:
    try:
        principal = authenticate(event.get("headers") or {})
    except MarketplaceError as error:
        return {"statusCode": error.status, "headers": {"content-type": "application/json", **error.headers},
                "body": json.dumps(error.body())}
    return {"statusCode": 200, "headers": {"content-type": "application/json"},
            "body": json.dumps({"provider": principal.provider, "subject": principal.subject,
                                "user_id": principal.user_id})}


@pytest.fixture(params=["http", "https"])
def runtime(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[tuple[LocalMarketplace, ssl.SSLContext | None]]:
    files = local_tls.ensure(tmp_path / "tls") if request.param == "https" else None
    marketplace = LocalMarketplace(
        port=0, stage=f"idt{request.param}",  # one moto per process: a stage per runtime keeps them apart
        functions=(SYNC,), handler_overrides={"sync": _whoami}, issuer_key=tmp_path / "issuer.pem",
        tls=files.server_context() if files else None, ca_file=files.ca_cert if files else None,
    )
    with marketplace:
        yield marketplace, files.client_context() if files else None


def _get(url: str, headers: dict[str, str], context: ssl.SSLContext | None) -> tuple[int, dict[str, Any]]:
    request = urllib.request.Request(url, headers=headers)
    try:
        with urllib.request.urlopen(request, timeout=20, context=context) as response:
            return response.status, json.loads(response.read())
    except urllib.error.HTTPError as error:
        with error:
            return error.code, json.loads(error.read())


def test_handlers_in_the_runtime_verify_its_tokens(runtime: tuple[LocalMarketplace, ssl.SSLContext | None],
                                                    tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    marketplace, context = runtime
    (entry,) = json.loads(os.environ[ISSUERS_VAR])
    assert entry["issuer"] == f"{marketplace.base_url}/local-issuer" and "jwks" not in entry  # fetched, not inline
    token = LocalIssuer.load(tmp_path / "issuer.pem").mint("carol", marketplace.base_url)
    url = f"{marketplace.base_url}/sync/v1/whoami"

    status, body = _get(url, {"Authorization": f"Bearer {token}", "X-Account-Type": "local"}, context)
    assert status == 200, body
    assert body["provider"] == "local" and body["subject"] == "carol"

    status, body = _get(url, {"Authorization": "Bearer not-a-token"}, context)
    assert status == 401 and body["error"] == "unauthorized" and "JWT" in body["message"]
    status, body = _get(url, {"Authorization": f"Bearer {token}", "X-Account-Type": "github"}, context)
    assert status == 401 and "GitHub accounts are not accepted here" in body["message"]

    if marketplace.scheme == "https":  # the keys came over HTTPS thanks to the local CA: without it, no keys
        monkeypatch.delenv(CA_FILE_VAR)
        oidc.reset()
        status, body = _get(url, {"Authorization": f"Bearer {token}", "X-Account-Type": "local"}, context)
        assert status == 503 and "CERTIFICATE_VERIFY_FAILED" in body["message"], body
