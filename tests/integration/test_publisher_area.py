"""The website's publisher area (``/manage``) through the publish_api handler, as a browser uses it: a session
cookie, forms with the session's CSRF token. Each rule of the area is checked here: signed-out and expired
sessions, CSRF and other sites' requests, another user's namespace, tokens, statistics and audit log, bad form
input that changes nothing, and the audit entries each change writes."""

from __future__ import annotations

import json
import re
from datetime import timedelta
from html import unescape
from typing import Any, TypeVar
from urllib.parse import urlencode

import pytest

from functions.publish_api import handler
from marketplace.publishing import service, sessions, store, tokens
from tests.integration.events import context, http_event

HOST = "localhost"
BASE = f"http://{HOST}"


class Browser:
    """One browser: its cookies, and the CSRF token of the last page it saw."""

    def __init__(self, cookie: str | None = None, csrf: str = "", host: str = HOST) -> None:
        self.cookie = cookie
        self.csrf = csrf
        self.host = host
        self.cookie_name = "mkp_session" if host == HOST else "__Host-mkp_session"  # the prefix on TLS only

    def request(self, method: str, path: str, *, form: dict[str, Any] | None = None, body: object = None,
                query: str = "", headers: dict[str, str] | None = None) -> dict[str, Any]:
        sent = {"host": self.host, "user-agent": "Mozilla/5.0 (X11; Linux x86_64) Chrome/140", **(headers or {})}
        data: str | None = None
        if form is not None:
            sent["content-type"] = "application/x-www-form-urlencoded"
            data = urlencode(form, doseq=True)
        elif body is not None:
            sent["content-type"] = "application/json"
            data = json.dumps(body)
        event = http_event(method, path, "ANY /manage/{proxy+}", sent, data, query=query)
        if self.cookie:
            event["cookies"] = [f"{self.cookie_name}={self.cookie}"]
        result = handler.lambda_handler(event, context("publish_api"))
        found = re.search(r'name="csrf" value="([^"]+)"', result.get("body") or "")
        if found:
            self.csrf = unescape(found.group(1))
        return result

    def get(self, path: str, query: str = "") -> dict[str, Any]:
        return self.request("GET", path, query=query)

    def post(self, path: str, form: dict[str, Any] | None = None, **kwargs: Any) -> dict[str, Any]:
        return self.request("POST", path, form={"csrf": self.csrf, **(form or {})}, **kwargs)


def signed_in(user: str, *, lifetime: timedelta = sessions.SESSION_LIFETIME, host: str = HOST) -> Browser:
    """A browser with a live session for ``user`` (as the sign-in callback would start it)."""
    secret = f"secret-of-{user}-{tokens.issue().token_id}"
    now = tokens.utcnow()
    store.create_together(store.session_item(sessions.digest(secret), user=user, display_name=None, provider="local",
                                             csrf=f"csrf-{user}", now=now, expires=now + lifetime))
    return Browser(secret, f"csrf-{user}", host)


T = TypeVar("T")


def must(value: T | None) -> T:
    assert value is not None
    return value


def matched(pattern: str, text: str) -> str:
    found = re.search(pattern, text, re.S)
    assert found is not None, f"{pattern!r} not in the page"
    return found.group(1)


def status(result: dict[str, Any]) -> int:
    return int(result["statusCode"])


def header(result: dict[str, Any], name: str) -> str:
    return str({k.lower(): v for k, v in result["headers"].items()}.get(name.lower(), ""))


@pytest.fixture
def alice(deployment) -> Browser:
    browser = signed_in("alice@example.com")
    assert status(browser.get("/manage")) == 200
    return browser


def test_signed_out_pages_send_the_browser_to_sign_in_and_changes_answer_401(deployment):
    anonymous = Browser()
    home = anonymous.get("/manage")
    assert status(home) == 200 and "Sign in" in home["body"] and header(home, "cache-control") == "private, no-store"
    away = anonymous.get("/manage/namespaces/acme")
    assert status(away) == 303
    assert header(away, "location") == "/manage/signin?" + urlencode({"next": "/manage/namespaces/acme"})
    refused = anonymous.request("POST", "/manage/namespaces", form={"name": "acme", "csrf": "x"})
    assert status(refused) == 401 and "sign in again" in refused["body"]
    assert store.get_namespace("acme") is None
    made_up = Browser("not-a-session")
    assert status(made_up.request("POST", "/manage/namespaces", form={"name": "acme", "csrf": "x"})) == 401


def test_the_hub_address_vsce_prints_leads_to_the_extensions_statistics(deployment):
    hub = Browser().get("/manage/publishers/acme/extensions/linter/hub")
    assert status(hub) == 303 and header(hub, "location") == "/manage/extensions/acme/linter"
    assert header(Browser().get("/manage/extensions/acme/linter"), "location").startswith("/manage/signin?next=")


def test_an_expired_session_is_signed_out(deployment):
    expired = signed_in("old@example.com", lifetime=timedelta(seconds=-1))
    assert status(expired.get("/manage/upload")) == 303
    assert status(expired.post("/manage/namespaces", {"name": "late"})) == 401
    assert store.get_namespace("late") is None


def test_a_user_creates_a_namespace_and_a_token_shown_once(alice):
    created = alice.post("/manage/namespaces", {"name": "acme"})
    assert status(created) == 303 and header(created, "location") == "/manage/namespaces/acme"
    assert must(store.get_member("acme", "alice@example.com")).role == "owner"
    page = alice.get("/manage/namespaces/acme")
    assert status(page) == 200 and "Add a member" in page["body"]
    made = alice.post("/manage/tokens", {"namespaces": ["acme"], "description": "CI", "days": "30"})
    assert status(made) == 201 and header(made, "cache-control") == "private, no-store"
    value = matched(r'id="token-value" class="token-value">([^<]+)<', made["body"])
    principal = service.authenticate(value)
    assert principal.user == "alice@example.com" and principal.namespaces == {"acme"}
    listed = alice.get("/manage")["body"]
    assert "CI" in listed and principal.token_id in listed and value not in listed
    actions = [(e.action, e.actor, e.client) for e in service.audit_log("acme")]
    assert ("namespace.create", "alice@example.com", "website") in actions
    assert ("token.create", "alice@example.com", "website") in actions


def test_a_token_expiring_within_two_weeks_is_flagged(alice):
    alice.post("/manage/namespaces", {"name": "acme"})
    alice.post("/manage/tokens", {"namespaces": ["acme"], "days": "3"})
    page = alice.get("/manage")["body"]
    assert "Expires soon" in page and "expires on" in page


@pytest.mark.parametrize(("form", "expected"), [
    ({"name": ""}, 400), ({"name": "Not Valid"}, 400), ({"name": "microsoft"}, 403), ({"name": "m1crosoft"}, 409),
    ({"name": "acme"}, 409), ({"name": "x" * 300}, 400),
])
def test_bad_namespace_names_change_nothing(alice, form, expected):
    service.create_publisher("acme", "someone-else")
    service.create_publisher("microsoft", "operator", allow_reserved=True)
    before = {n.name for n in store.namespaces()}
    answer = alice.post("/manage/namespaces", form)
    assert status(answer) == expected and "Nothing was changed" in answer["body"]
    assert header(answer, "content-type").startswith("text/html")
    assert {n.name for n in store.namespaces()} == before


def test_the_operator_policy_applies_to_the_website(alice, monkeypatch):
    monkeypatch.setenv("NAMESPACE_CREATION", "domains:corp.example")
    assert "corp.example" in alice.get("/manage")["body"]
    assert status(alice.post("/manage/namespaces", {"name": "acme"})) == 403
    assert store.get_namespace("acme") is None
    corp = signed_in("dev@corp.example")
    assert status(corp.post("/manage/namespaces", {"name": "acme"})) == 303


def test_forms_without_the_sessions_csrf_token_or_from_another_site_change_nothing(alice):
    assert status(alice.request("POST", "/manage/namespaces", form={"name": "acme"})) == 403
    assert status(alice.request("POST", "/manage/namespaces", form={"name": "acme", "csrf": "guess"})) == 403
    other = signed_in("mallory@example.com")
    stolen = alice.request("POST", "/manage/namespaces", form={"name": "acme", "csrf": other.csrf})
    assert status(stolen) == 403
    cross_site = alice.post("/manage/namespaces", {"name": "acme"}, headers={"origin": "https://evil.example"})
    assert status(cross_site) == 403
    assert store.get_namespace("acme") is None
    not_a_form = alice.request("POST", "/manage/namespaces", body={"name": "acme"})
    assert status(not_a_form) in (403, 415) and store.get_namespace("acme") is None


def test_members_are_added_and_removed_by_owners_never_the_last_owner(alice):
    alice.post("/manage/namespaces", {"name": "acme"})
    assert status(alice.post("/manage/namespaces/acme/members", {"user": "bob@example.com",
                                                                 "role": "contributor"})) == 303
    bob = signed_in("bob@example.com")
    page = bob.get("/manage/namespaces/acme")["body"]
    assert status(bob.get("/manage/namespaces/acme")) == 200 and "Add a member" not in page
    assert status(bob.post("/manage/namespaces/acme/members", {"user": "eve@example.com"})) == 403
    assert status(bob.get("/manage/namespaces/acme/audit")) == 403
    last = alice.post("/manage/namespaces/acme/members/remove", {"user": "alice@example.com"})
    assert status(last) == 409 and "last owner" in last["body"]
    assert status(alice.post("/manage/namespaces/acme/members", {"user": "bob@example.com"})) == 409
    assert status(alice.post("/manage/namespaces/acme/members", {"user": "x y"})) == 400
    assert status(alice.post("/manage/namespaces/acme/members/remove", {"user": "bob@example.com"})) == 303
    assert store.get_member("acme", "bob@example.com") is None
    assert status(bob.get("/manage/namespaces/acme")) == 403
    log = alice.get("/manage/namespaces/acme/audit")
    assert status(log) == 200 and "member.add" in log["body"] and "member.remove" in log["body"]


def test_another_users_namespace_tokens_statistics_and_audit_are_closed(alice):
    alice.post("/manage/namespaces", {"name": "acme"})
    made = alice.post("/manage/tokens", {"namespaces": ["acme"]})
    token_id = service.authenticate(
        matched(r'class="token-value">([^<]+)<', made["body"])).token_id
    mallory = signed_in("mallory@example.com")
    assert status(mallory.get("/manage/namespaces/acme")) == 403
    assert status(mallory.get("/manage/namespaces/acme/audit")) == 403
    assert status(mallory.get("/manage/extensions/acme/tool")) == 403
    assert status(mallory.post("/manage/namespaces/acme/details", {"displayName": "pwned"})) == 403
    assert status(mallory.post("/manage/namespaces/acme/members", {"user": "mallory@example.com",
                                                                   "role": "owner"})) == 403
    assert status(mallory.post(f"/manage/tokens/{token_id}/revoke")) == 404
    assert status(mallory.post("/manage/tokens", {"namespaces": ["acme"]})) == 403
    assert must(store.get_token(token_id)).revoked_at is None
    assert token_id not in mallory.get("/manage")["body"]
    assert must(store.get_namespace("acme")).display_name is None


def test_revoking_a_token_from_the_page(alice):
    alice.post("/manage/namespaces", {"name": "acme"})
    made = alice.post("/manage/tokens", {"namespaces": ["acme"]})
    value = matched(r'class="token-value">([^<]+)<', made["body"])
    token_id = service.authenticate(value).token_id
    assert status(alice.post(f"/manage/tokens/{token_id}/revoke")) == 303
    with pytest.raises(Exception, match="revoked"):
        service.authenticate(value)
    assert ("token.revoke", "alice@example.com") in [(e.action, e.actor) for e in service.audit_log("acme")]


def test_bad_token_forms_change_nothing(alice):
    alice.post("/manage/namespaces", {"name": "acme"})
    for form in ({}, {"namespaces": ["acme"], "days": "-1"}, {"namespaces": ["acme"], "days": "9999"},
                 {"namespaces": ["nope"]}, {"namespaces": ["acme"], "description": "x" * 201}):
        answer = alice.post("/manage/tokens", form)
        assert status(answer) in (400, 403, 404), (form, answer["body"][:300])
    assert service.list_tokens("alice@example.com") == []


def test_owners_edit_details(alice):
    alice.post("/manage/namespaces", {"name": "acme"})
    saved = alice.post("/manage/namespaces/acme/details", {"displayName": "ACME Tools", "description": "Tools",
                                                          "website": "https://acme.example"})
    assert status(saved) == 303
    assert must(store.get_namespace("acme")).display_name == "ACME Tools"
    bad = alice.post("/manage/namespaces/acme/details", {"displayName": "ACME", "website": "javascript:alert(1)"})
    assert status(bad) == 400 and must(store.get_namespace("acme")).display_name == "ACME Tools"


def test_uploads_from_the_browser_use_the_presigned_flow(alice):
    alice.post("/manage/namespaces", {"name": "acme"})
    page = alice.get("/manage/upload")
    csp = header(page, "content-security-policy")
    assert status(page) == 200 and 'id="upload-form"' in page["body"]
    assert re.search(r"connect-src 'self' https?://\S+;", csp), csp
    body = {"fileName": "acme.tool-1.0.0.vsix", "size": 1234, "sha256": "a" * 64}
    refused = alice.request("POST", "/manage/uploads", body=body)
    assert status(refused) == 403 and json.loads(refused["body"])["message"]
    created = alice.request("POST", "/manage/uploads", body=body, headers={"x-csrf-token": alice.csrf})
    assert status(created) == 201, created["body"]
    answer = json.loads(created["body"])
    assert answer["upload"]["url"] and answer["upload"]["fields"]["key"].endswith(answer["id"])
    record = must(store.find_upload(answer["id"]))
    assert record.user == "alice@example.com" and record.token_id.startswith(service.SESSION_PREFIX)
    assert record.client == "website"
    seen = alice.get(f"/manage/uploads/{answer['id']}")
    assert status(seen) == 200 and json.loads(seen["body"])["status"] == "pending"
    assert status(signed_in("mallory@example.com").get(f"/manage/uploads/{answer['id']}")) == 404
    bad = alice.request("POST", "/manage/uploads", body={"fileName": "x.zip"}, headers={"x-csrf-token": alice.csrf})
    assert status(bad) == 400 and json.loads(bad["body"])["message"]


def test_an_upload_is_refused_once_its_session_has_ended(alice):
    alice.post("/manage/namespaces", {"name": "acme"})
    created = alice.request("POST", "/manage/uploads", headers={"x-csrf-token": alice.csrf},
                            body={"fileName": "acme.tool-1.0.0.vsix", "size": 10, "sha256": "b" * 64})
    record = must(store.find_upload(json.loads(created["body"])["id"]))
    assert service.principal_of(record.token_id).user == "alice@example.com"
    assert status(alice.post("/manage/signout")) == 303
    with pytest.raises(Exception, match="session that started this upload has ended"):
        service.principal_of(record.token_id)


def test_signing_out_ends_the_session(alice):
    out = alice.post("/manage/signout")
    assert status(out) == 303 and any("Max-Age=0" in c for c in out.get("cookies", []))
    assert status(alice.get("/manage/upload")) == 303


def test_namespace_creation_is_rate_limited_per_user(alice, monkeypatch):
    monkeypatch.setenv("PUBLISHING_CREATION_LIMIT", "2")
    from marketplace.publishing import routes

    routes._creation_limit.cache_clear()
    try:
        assert [status(alice.post("/manage/namespaces", {"name": f"acme{i}"})) for i in range(3)] == [303, 303, 429]
        assert store.get_namespace("acme2") is None
    finally:
        routes._creation_limit.cache_clear()


def test_owners_see_statistics_charts_data_and_csv(deployment):
    from tests import vsix_factory
    from tests.integration.test_ingest import Publisher
    from tests.integration.test_stats_handler import extension_event, invoke, records

    publisher = Publisher(deployment, "statpub")
    publisher.upload(vsix_factory.vsix_bytes(publisher="statpub", name="counted"))
    assert invoke(records(*[extension_event("install", "statpub.counted") for _ in range(3)],
                          extension_event("uninstall", "statpub.counted"))) == {"batchItemFailures": []}
    owner = signed_in(store.members("statpub")[0].user)
    page = owner.get("/manage/extensions/statpub/counted")
    assert status(page) == 200, page["body"][:500]
    data = json.loads(matched(r'<script type="application/json" id="stats-data">(.*?)</script>', page["body"]))
    assert len(data["days"]) == 30 and data["days"] == sorted(data["days"])
    assert data["series"]["installs"][-1] == 3 and data["series"]["uninstalls"][-1] == 1
    assert 'id="chart-daily"' in page["body"] and "uplot" in page["body"]
    csv_answer = owner.get("/manage/extensions/statpub/counted/statistics.csv")
    assert status(csv_answer) == 200 and csv_answer["body"].startswith("day,downloads,installs")
    service.add_member("statpub", "bob@example.com", "contributor")
    assert status(signed_in("bob@example.com").get("/manage/extensions/statpub/counted")) == 403
    assert status(owner.get("/manage/extensions/statpub/missing")) == 404


def test_statistics_json_cannot_close_its_script_element():
    from marketplace.web import manage

    data = manage.chart_data({"events_by_version": [{"version": "</script><script>alert(1)</script>"}]},
                             today="2026-12-07")
    assert data["days"][-1] == "2026-12-07" and len(data["days"]) == manage.STATISTICS_DAYS
    embedded = json.dumps(data).replace("<", "\\u003c")
    assert "</script" not in embedded and json.loads(embedded)["versions"][0]["version"].startswith("</script>")


def test_on_tls_the_session_cookie_is_secure_and_host_only(deployment):
    """A public host is served over HTTPS: the cookie takes the ``__Host-`` prefix and ``Secure``; the plain name
    is not read there (a cookie set over HTTP, or by a subdomain, cannot pass for the session)."""
    browser = signed_in("alice@example.com", host="market.example")
    assert "Signed in as" in browser.get("/manage")["body"]
    plain = Browser(browser.cookie, browser.csrf, "market.example")
    plain.cookie_name = "mkp_session"
    assert "Signed in as" not in plain.get("/manage")["body"]
    out = browser.post("/manage/signout")
    cleared = next(c for c in out["cookies"] if c.startswith("__Host-mkp_session="))
    assert all(part in cleared for part in ("Max-Age=0", "Path=/", "HttpOnly", "SameSite=Lax", "Secure"))


def test_signing_in_starts_at_the_provider_with_a_state_cookie(deployment, monkeypatch):
    provider = {"name": "corp", "kind": "oidc", "label": "Sign in with Corp", "client_id": "site",
                "authorization_endpoint": "https://login.corp.example/authorize",
                "token_endpoint": "https://login.corp.example/token", "issuer": "https://login.corp.example",
                "jwks": {"keys": []}}
    monkeypatch.setenv("SIGNIN_PROVIDERS", json.dumps([provider]))
    page = Browser().get("/manage")
    assert "Sign in with Corp" in page["body"] and "/manage/signin/with/corp" in page["body"]
    started = Browser().get("/manage/signin/with/corp", query="next=/manage/upload")
    assert status(started) == 303 and header(started, "location").startswith("https://login.corp.example/authorize?")
    assert "redirect_uri=http%3A%2F%2Flocalhost%2Fmanage%2Fsignin%2Fcallback" in header(started, "location")
    bound = next(c for c in started["cookies"] if c.startswith("mkp_signin="))
    assert "HttpOnly" in bound and "SameSite=Lax" in bound
    state = bound.split(";")[0].split("=", 1)[1]
    callback = Browser().get("/manage/signin/callback", query=f"state={state}&code=abc")
    assert status(callback) == 401 and "not started in this browser" in callback["body"]
    refused = Browser().get("/manage/signin/callback", query="error=access_denied&error_description=cancelled")
    assert status(refused) == 401 and "cancelled" in refused["body"]
    assert status(Browser().get("/manage/signin/with/nobody")) == 404


# --- the namespace's logo --------------------------------------------------------------------------------------


def send_form(browser: Browser, path: str, fields: dict[str, str],
              files: dict[str, tuple[str, str, bytes]] | None = None,
              headers: dict[str, str] | None = None) -> dict[str, Any]:
    """A form with a file input, as a browser sends it (``multipart/form-data``; API Gateway passes the binary
    body on in base64)."""
    import base64

    from tests.unit.test_logos import form

    boundary = "----WebKitFormBoundary7MA4YWxkTrZu0gW"
    parts: list[tuple[str, str | None, str | None, bytes]] = [(name, None, None, value.encode())
                                                              for name, value in fields.items()]
    parts += [(name, filename, content_type, data) for name, (filename, content_type, data) in (files or {}).items()]
    sent = {"host": browser.host, "user-agent": "Mozilla/5.0 (X11; Linux x86_64) Chrome/140",
            "content-type": f"multipart/form-data; boundary={boundary}", **(headers or {})}
    event = http_event("POST", path, "ANY /manage/{proxy+}", sent,
                       base64.b64encode(form(*parts, boundary=boundary)).decode())
    event["isBase64Encoded"] = True
    if browser.cookie:
        event["cookies"] = [f"{browser.cookie_name}={browser.cookie}"]
    return handler.lambda_handler(event, context("publish_api"))


def logo_of(namespace: str) -> str | None:
    return must(store.get_namespace(namespace)).logo


def public_object(key: str) -> tuple[int, dict[str, str], bytes]:
    """What the CDN answers for ``/<key>`` (the local stand-in, which serves the bucket's public prefix)."""
    from marketplace.local.cdn import Cdn
    from marketplace.platform.config import location
    from marketplace.platform.resources import PACKAGES_BUCKET

    answer = Cdn(location(PACKAGES_BUCKET), PACKAGES_BUCKET.public_prefix).serve("GET", "/" + key, {})
    return answer.status, dict(answer.headers), answer.body


def test_owners_upload_replace_and_remove_the_logo_with_the_pages_form(alice):
    from tests.unit.test_logos import jpeg, png

    alice.post("/manage/namespaces", {"name": "acme"})
    page = alice.get("/manage/namespaces/acme")["body"]
    assert 'enctype="multipart/form-data"' in page and 'accept="image/png,image/jpeg,image/webp"' in page
    assert "Remove logo" not in page
    sent = send_form(alice, "/manage/namespaces/acme/logo", {"csrf": alice.csrf},
                     {"logo": ("acme.png", "image/png", png(200, 100))})
    assert status(sent) == 303 and header(sent, "location") == "/manage/namespaces/acme"
    first = must(logo_of("acme"))
    assert first.startswith("assets/-/namespaces/acme/logo-") and first.endswith(".png")
    served = public_object(first)
    assert served[0] == 200 and served[2] == png(200, 100)
    assert served[1]["content-type"] == "image/png" and "immutable" in served[1]["cache-control"]
    page = alice.get("/manage/namespaces/acme")["body"]
    assert f'<img class="icon" src="/{first}" alt="Logo of acme" width="96" height="96">' in page
    assert "Remove logo" in page
    replaced = send_form(alice, "/manage/namespaces/acme/logo", {"csrf": alice.csrf},
                         {"logo": ("acme.jpg", "image/jpeg", jpeg(64, 64))})
    assert status(replaced) == 303
    second = must(logo_of("acme"))
    assert second.endswith(".jpg") and public_object(second)[1]["content-type"] == "image/jpeg"
    assert public_object(first)[0] == 404  # the old one is gone
    removed = alice.post("/manage/namespaces/acme/logo/remove")
    assert status(removed) == 303 and logo_of("acme") is None and public_object(second)[0] == 404
    log = alice.get("/manage/namespaces/acme/audit")["body"]
    assert log.count("namespace.logo") == 3
    entries = [e for e in service.audit_log("acme") if e.action == "namespace.logo"]
    assert {(e.actor, e.client) for e in entries} == {("alice@example.com", "website")}


def test_logo_forms_need_the_csrf_token_an_owner_and_an_image(alice):
    from tests.unit.test_logos import png

    alice.post("/manage/namespaces", {"name": "acme"})
    send_form(alice, "/manage/namespaces/acme/logo", {"csrf": alice.csrf}, {"logo": ("a.png", "image/png", png())})
    kept = must(logo_of("acme"))
    image = {"logo": ("b.png", "image/png", png(99, 99))}
    assert status(send_form(alice, "/manage/namespaces/acme/logo", {}, image)) == 403
    assert status(send_form(alice, "/manage/namespaces/acme/logo", {"csrf": "guess"}, image)) == 403
    cross_site = send_form(alice, "/manage/namespaces/acme/logo", {"csrf": alice.csrf}, image,
                           {"origin": "https://evil.example"})
    assert status(cross_site) == 403
    assert status(alice.request("POST", "/manage/namespaces/acme/logo/remove", form={})) == 403
    service.add_member("acme", "bob@example.com", "contributor")
    bob, mallory = signed_in("bob@example.com"), signed_in("mallory@example.com")
    for other in (bob, mallory):
        assert status(send_form(other, "/manage/namespaces/acme/logo", {"csrf": other.csrf}, image)) == 403
        assert status(other.post("/manage/namespaces/acme/logo/remove")) == 403
    assert "Remove logo" not in bob.get("/manage/namespaces/acme")["body"]
    for refused, expected in ((b'<svg xmlns="http://www.w3.org/2000/svg"><script>alert(1)</script></svg>', 400),
                              (b"GIF89a" + b"\0" * 40, 400), (png(4000, 4000), 400), (b"", 400),
                              (b"\x89PNG\r\n\x1a\n" + b"\0" * (260 * 1024), 413),
                              (b"\x89PNG\r\n\x1a\n" + b"\0" * (300 * 1024), 413)):
        answer = send_form(alice, "/manage/namespaces/acme/logo", {"csrf": alice.csrf},
                           {"logo": ("x.png", "image/png", refused)})
        assert status(answer) == expected and "Nothing was changed" in answer["body"], answer["body"][:500]
        assert "KiB" in answer["body"]
    no_file = alice.post("/manage/namespaces/acme/logo")
    assert status(no_file) == 400 and "choose an image file" in no_file["body"]
    assert logo_of("acme") == kept and public_object(kept)[0] == 200
    assert [e.action for e in service.audit_log("acme")].count("namespace.logo") == 1


def test_the_public_publisher_page_shows_the_logo(deployment):
    from functions.web import handler as web
    from tests import vsix_factory
    from tests.integration.test_ingest import Publisher
    from tests.unit.test_logos import webp_lossless

    Publisher(deployment, "logopub").upload(vsix_factory.vsix_bytes(publisher="logopub", name="shown"))
    owner = signed_in(store.members("logopub")[0].user)
    assert status(send_form(owner, "/manage/namespaces/logopub/logo", {"csrf": owner.csrf},
                            {"logo": ("l.webp", "image/webp", webp_lossless(128, 128))})) == 303
    key = must(logo_of("logopub"))

    def public_page() -> dict[str, Any]:
        event = http_event("GET", "/publishers/logopub", "ANY /publishers/{proxy+}", {"host": HOST})
        return web.lambda_handler(event, context("web"))

    shown = public_page()
    assert status(shown) == 200
    assert f'<img class="icon" src="{BASE}/{key}" alt="" width="96" height="96"' in shown["body"]
    assert "img-src 'self';" in header(shown, "content-security-policy")
    assert public_object(key)[1]["content-type"] == "image/webp"
    assert status(owner.post("/manage/namespaces/logopub/logo/remove")) == 303
    assert "/assets/-/namespaces/" not in public_page()["body"]
