"""``marketplace serve`` signs the website in as a hosted login page would: its issuer's discovery document
names the sign-in page and token endpoint, the page redirects back with a code for a named local user that the
operator created with ``marketplace user add`` (and nobody else), and the code becomes an ID token that
``marketplace.identity.signin`` verifies with the served keys."""

from __future__ import annotations

import json
import stat
import subprocess
import urllib.error
import urllib.request
from pathlib import Path
from urllib.parse import parse_qs, urlencode, urlsplit

import pytest

from marketplace.identity import local_users, oidc, signin
from marketplace.identity.local_issuer import CLIENT_ID, MISMATCH
from marketplace.local.durable.directory import open_directory
from tests.e2e.conftest import MARKETPLACE, ROOT, Served, http

pytestmark = pytest.mark.slow

PASSWORD = "grace's own long password"


class _NoRedirect(urllib.request.HTTPRedirectHandler):
    def redirect_request(self, *_args: object, **_kwargs: object) -> None:
        return None


def _post(url: str, form: dict[str, str], origin: str) -> tuple[int, str, str]:
    """The sign-in form sent as a browser sends it, without following the redirect: status, Location, page."""
    request = urllib.request.Request(url, data=urlencode(form).encode(), method="POST",
                                     headers={"content-type": "application/x-www-form-urlencoded", "origin": origin})
    try:
        with urllib.request.build_opener(_NoRedirect()).open(request, timeout=10) as response:
            return response.status, "", response.read().decode()
    except urllib.error.HTTPError as answer:
        return answer.code, answer.headers.get("location") or "", answer.read().decode()


def test_sign_in_through_the_served_issuer(served: Served) -> None:
    oidc.reset()
    issuer = f"{served.base_url}/local-issuer"
    status, _, body = http("GET", f"{issuer}/.well-known/openid-configuration")
    assert status == 200
    discovery = json.loads(body)
    entry = {"name": "local", "kind": "oidc", "label": "Sign in (local users)", "client_id": CLIENT_ID,
             "authorization_endpoint": discovery["authorization_endpoint"],
             "token_endpoint": discovery["token_endpoint"], "issuer": discovery["issuer"]}
    (provider,) = signin.parse_providers(json.dumps([entry]))
    redirect = f"{served.base_url}/manage/signin/callback"
    challenge = signin.begin(provider, redirect)

    form = {k: v[0] for k, v in parse_qs(urlsplit(challenge.url).query).items()}
    assert served.cli("user", "list").stdout == ""  # none yet (the message says so on stderr)
    status, headers, page = http("GET", challenge.url)
    assert status == 200 and b"No local users yet" in page and b"marketplace user add NAME" in page
    assert _post(f"{issuer}/authorize", {**form, "user": "grace@example.com", "password": PASSWORD},
                 served.base_url)[0] == 403

    # the operator creates the user; the running marketplace signs her in at once
    added = served.cli("user", "add", "Grace@Example.com", "--password-stdin", input=PASSWORD + "\n")
    assert "grace@example.com" in added.stderr and PASSWORD not in added.stdout + added.stderr
    status, headers, page = http("GET", challenge.url)
    assert status == 200 and "form-action 'self'" in headers["content-security-policy"]
    assert b'name="user"' in page and b'name="password"' in page and b"Sign in</button>" in page

    status, _, text = _post(f"{issuer}/authorize", {**form, "user": "grace@example.com", "password": "wrong" * 3},
                            served.base_url)
    assert status == 401 and MISMATCH in text
    status, where, _ = _post(f"{issuer}/authorize", {**form, "user": "Grace@Example.com", "password": PASSWORD},
                             served.base_url)
    assert status == 303
    location = urlsplit(where)
    assert f"{location.scheme}://{location.netloc}{location.path}" == redirect
    callback = {k: v[0] for k, v in parse_qs(location.query).items()}
    assert callback["state"] == challenge.state

    signed_in = signin.finish(provider, callback["code"], challenge.verifier, challenge.nonce, redirect)
    assert (signed_in.user, signed_in.email, signed_in.provider) == ("grace@example.com", "grace@example.com",
                                                                     "local")


def test_the_operator_manages_local_users_with_the_cli(served: Served) -> None:
    """``marketplace user add|password|remove|list`` on the running marketplace's data directory: the file is
    private, a password never appears, and usage errors exit 2."""
    served.cli("user", "add", "henry", "--password-stdin", input="henry's first password\n")
    users_file = Path(served.env["MARKETPLACE_DATA_DIR"]) / local_users.USERS_FILE
    assert stat.S_IMODE(users_file.stat().st_mode) == 0o600
    assert local_users.verify(users_file, "henry", "henry's first password") == "henry"
    assert "henry" in served.cli("user", "list").stdout.split()
    listed = json.loads(served.cli("user", "list", "--json").stdout)
    assert any(user["name"] == "henry" and user["created"] for user in listed)

    again = served.cli("user", "add", "henry", "--password-stdin", input="another long password\n", check=False)
    assert again.returncode == 1 and "exists already" in again.stderr and "another" not in again.stderr
    short = served.cli("user", "add", "ivy", "--password-stdin", input="short\n", check=False)
    assert short.returncode == 2 and "at least 12 characters" in short.stderr and "short\n" not in short.stderr
    spaced = served.cli("user", "add", "ivy smith", "--password-stdin", input="a long password\n", check=False)
    assert spaced.returncode == 2 and "without spaces" in spaced.stderr
    assert served.cli("user", "add", "--password-stdin", check=False).returncode == 2  # no name: argparse

    served.cli("user", "password", "henry", "--password-stdin", input="henry's second password\n")
    assert local_users.verify(users_file, "henry", "henry's second password") == "henry"
    unknown = served.cli("user", "password", "nobody", "--password-stdin", input="x" * 20 + "\n", check=False)
    assert unknown.returncode == 1 and "no local user nobody" in unknown.stderr
    served.cli("user", "remove", "henry")
    assert "henry" not in served.cli("user", "list").stdout.split()
    assert served.cli("user", "remove", "henry", check=False).returncode == 1


def test_users_can_be_added_before_the_first_start(served: Served, tmp_path: Path) -> None:
    """With no marketplace running, ``user add`` writes into the data directory ``marketplace serve`` will use
    (``MARKETPLACE_DATA_DIR`` here, or ``--data-dir``), and that directory then starts as a new one."""
    data = tmp_path / "data"
    env = {**served.env, "MARKETPLACE_STATE_FILE": str(tmp_path / "none.json"), "MARKETPLACE_DATA_DIR": str(data)}
    for extra in ((), ("--data-dir", str(tmp_path / "other"))):
        added = subprocess.run([str(MARKETPLACE), "user", "add", "olga", "--password-stdin", *extra],
                               input="olga's long password\n", capture_output=True, text=True, env=env, cwd=ROOT,
                               timeout=60)
        assert added.returncode == 0, added.stderr
    assert local_users.names(data / local_users.USERS_FILE) == ["olga"]
    assert local_users.names(tmp_path / "other" / local_users.USERS_FILE) == ["olga"]
    directory = open_directory(data)  # a directory holding only the users file is still a new data directory
    try:
        assert directory.users_file == data / local_users.USERS_FILE
    finally:
        directory.close()
