"""``marketplace serve`` signs the website in as a hosted login page would: its issuer's discovery document
names the sign-in page and token endpoint, the page redirects back with a code for the named user, and the
code becomes an ID token that ``marketplace.identity.signin`` verifies with the served keys."""

from __future__ import annotations

import json
import urllib.error
import urllib.request
from urllib.parse import parse_qs, urlencode, urlsplit

import pytest

from marketplace.identity import oidc, signin
from marketplace.identity.local_issuer import CLIENT_ID
from tests.e2e.conftest import Served, http

pytestmark = pytest.mark.slow


class _NoRedirect(urllib.request.HTTPRedirectHandler):
    def redirect_request(self, *_args: object, **_kwargs: object) -> None:
        return None


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

    status, headers, page = http("GET", challenge.url)
    assert status == 200 and "form-action 'self'" in headers["content-security-policy"]
    assert b'name="user"' in page and b"Sign in</button>" in page

    form = {k: v[0] for k, v in parse_qs(urlsplit(challenge.url).query).items()}
    request = urllib.request.Request(
        f"{issuer}/authorize", data=urlencode({**form, "user": "Grace@Example.com"}).encode(), method="POST",
        headers={"content-type": "application/x-www-form-urlencoded", "origin": served.base_url})
    try:
        urllib.request.build_opener(_NoRedirect()).open(request, timeout=10)
        raise AssertionError("the sign-in page did not redirect")
    except urllib.error.HTTPError as answer:
        assert answer.code == 303
        location = urlsplit(answer.headers["location"])
    assert f"{location.scheme}://{location.netloc}{location.path}" == redirect
    callback = {k: v[0] for k, v in parse_qs(location.query).items()}
    assert callback["state"] == challenge.state

    signed_in = signin.finish(provider, callback["code"], challenge.verifier, challenge.nonce, redirect)
    assert (signed_in.user, signed_in.email, signed_in.provider) == ("grace@example.com", "grace@example.com",
                                                                     "local")
