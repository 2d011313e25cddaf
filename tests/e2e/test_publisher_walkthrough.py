"""A publisher's first day, end to end, through ``marketplace serve``, Debian's chromium and the real ``vsce``:
a new local user signs in on the website, creates a namespace and a token, publishes with that token through
``vsce``, uploads a second version in the browser and sees the verdict (and a rejection's reason), adds a
contributor who signs in and publishes too, sees the statistics chart after installs, revokes the token and
sees ``vsce publish`` refused, and finds each of those actions in the audit log."""

from __future__ import annotations

import json
import re
import subprocess
from collections.abc import Iterator
from pathlib import Path
from typing import TYPE_CHECKING

import pytest

from tests.e2e.browser import chromium, expect, require_browser, watched
from tests.e2e.conftest import Served, http, serving, wait_until
from tests.e2e.extensions import NAME, TOOL_PATH, VSCE, vsce_package

if TYPE_CHECKING:
    from playwright.sync_api import Page

pytestmark = [pytest.mark.slow, pytest.mark.real_client]
__all__ = ["chromium"]

NAMESPACE = "daybreak"
EXTENSION_ID = f"{NAMESPACE}.{NAME}"
OWNER, CONTRIBUTOR = "alice@daybreak.example", "bob@daybreak.example"


@pytest.fixture(scope="module")
def served(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Served]:
    require_browser()
    with serving(tmp_path_factory.mktemp("walkthrough")) as running:
        yield running


def vsce(served: Served, home: Path, *args: str) -> subprocess.CompletedProcess[str]:
    if not VSCE.exists():
        pytest.skip("node_modules/.bin/vsce is missing: run ./dev setup")
    env = {"PATH": TOOL_PATH, "HOME": str(home), "VSCE_MARKETPLACE_URL": served.base_url}
    return subprocess.run([str(VSCE), *args], capture_output=True, text=True, timeout=120, env=env, cwd=home)


def password_of(user: str) -> str:
    return f"{user.split('@')[0]}'s long password"


def add_local_user(served: Served, user: str) -> None:
    """As the operator creates a local user who may sign in on the website: ``marketplace user add``."""
    served.cli("user", "add", user, "--password-stdin", input=password_of(user) + "\n")


def sign_in(page: Page, served: Served, user: str) -> None:
    """Through the local issuer's sign-in page, as a local user the operator created (``add_local_user``)."""
    page.goto(f"{served.base_url}/manage")
    page.get_by_role("link", name=re.compile("Sign in")).click()
    page.get_by_label("User name or e-mail address").fill(user)
    page.get_by_label("Password").fill(password_of(user))
    page.get_by_role("button", name="Sign in").click()
    expect(page.get_by_text(f"Signed in as {user}").first).to_be_visible()
    assert page.url.startswith(f"{served.base_url}/manage")


def create_token(page: Page, served: Served, description: str) -> str:
    page.goto(f"{served.base_url}/manage")
    page.get_by_label("Description").fill(description)
    page.get_by_role("checkbox", name=NAMESPACE).check()
    page.get_by_role("button", name="Create token").click()
    token = page.locator("#token-value").inner_text().strip()
    assert token.startswith("mkp_")
    return token


def upload(page: Page, served: Served, package: Path) -> str:
    """Upload ``package`` on the upload page; the verdict's text once it is there."""
    page.goto(f"{served.base_url}/manage/upload")
    page.get_by_label("Package (.vsix)").set_input_files(str(package))
    page.get_by_role("button", name="Upload").click()
    verdict = page.locator("#upload-verdict.verdict")
    try:
        expect(verdict).to_be_visible(timeout=60_000)
    except AssertionError as error:
        raise AssertionError(f"no verdict; the page says {page.locator('main').inner_text()!r}") from error
    assert page.locator("#upload-progress").get_attribute("value") == "100"
    return verdict.inner_text()


def test_a_publishers_first_day(chromium, served: Served, tmp_path: Path) -> None:
    for user in (OWNER, CONTRIBUTOR):
        add_local_user(served, user)
    with watched(chromium, accept_dialogs=True) as owner:
        page = owner.page
        sign_in(page, served, OWNER)

        # a namespace of their own
        page.get_by_label("Name").fill(NAMESPACE)
        page.get_by_role("button", name="Create namespace").click()
        expect(page.get_by_role("heading", name=NAMESPACE, level=1)).to_be_visible()

        # a token, shown once, and vsce publishing with it
        token = create_token(page, served, "laptop")
        first = vsce_package(tmp_path, "1.0.0", publisher=NAMESPACE)
        published = vsce(served, tmp_path, "publish", "-p", token, "--packagePath", str(first))
        assert published.returncode == 0, published.stdout + published.stderr
        assert f"Published {EXTENSION_ID} v1.0.0." in published.stdout + published.stderr

        # a second version uploaded in the browser, with the ingest's verdict; a rejection shows its reason
        second = vsce_package(tmp_path, "1.0.1", publisher=NAMESPACE)
        assert f"Published {EXTENSION_ID} 1.0.1" in upload(page, served, second)
        rejected = upload(page, served, second)
        assert "Rejected" in rejected and f"Extension {EXTENSION_ID}-1.0.1 is already published." in rejected

        # a contributor, who signs in and publishes with a token of their own
        page.goto(f"{served.base_url}/manage/namespaces/{NAMESPACE}")
        page.get_by_label("User (their sign-in e-mail address or user id)").fill(CONTRIBUTOR)
        page.get_by_role("button", name="Add member").click()
        expect(page.get_by_role("cell", name=CONTRIBUTOR)).to_be_visible()
        with watched(chromium) as contributor:
            sign_in(contributor.page, served, CONTRIBUTOR)
            theirs = create_token(contributor.page, served, "bob's CI")
            assert contributor.log.problems() == []
        third = vsce_package(tmp_path, "1.0.2", publisher=NAMESPACE)
        by_contributor = vsce(served, tmp_path, "publish", "-p", theirs, "--packagePath", str(third))
        assert by_contributor.returncode == 0, by_contributor.stdout + by_contributor.stderr

        # installs, then the statistics chart
        for _ in range(2):
            status, _, _ = http("GET", f"{served.base_url}/_apis/public/gallery/publishers/{NAMESPACE}/vsextensions/"
                                       f"{NAME}/1.0.2/vspackage?install=true")
            assert status in (200, 302), status

        def counted() -> bool:
            page.goto(f"{served.base_url}/manage/extensions/{NAMESPACE}/{NAME}")
            data = json.loads(page.locator("#stats-data").text_content() or "{}")
            return sum(data.get("series", {}).get("installs", [])) >= 2
        wait_until(counted, timeout=60, interval=1)
        expect(page.locator("#chart-daily canvas")).to_have_count(1)
        expect(page.locator("#chart-versions canvas")).to_have_count(1)
        assert page.locator("#chart-daily").get_attribute("role") == "img"

        # the token revoked: vsce is refused
        page.goto(f"{served.base_url}/manage")
        page.locator("tr", has_text="laptop").get_by_role("button", name="Revoke").click()
        expect(page.locator("tr", has_text="laptop")).to_contain_text("revoked")
        fourth = vsce_package(tmp_path, "1.0.3", publisher=NAMESPACE)
        refused = vsce(served, tmp_path, "publish", "-p", token, "--packagePath", str(fourth))
        assert refused.returncode != 0 and "revoked" in refused.stdout + refused.stderr

        # every step is in the audit log
        page.goto(f"{served.base_url}/manage/namespaces/{NAMESPACE}/audit")
        log = page.locator("table.audit").inner_text()
        for action in ("namespace.create", "token.create", "extension.publish", "member.add", "token.revoke"):
            assert action in log, action
        assert log.count("extension.publish") == 3 and CONTRIBUTOR in log and "website" in log
        assert owner.log.problems(allow_statuses=(400,)) == []


def test_a_suspicious_update_uploaded_in_the_browser_is_held_for_review(chromium, served: Served,
                                                                         tmp_path: Path) -> None:
    """An update that adds a native binary and starts on every event is quarantined: the upload page says it is
    held and why, and editors keep seeing the previous version."""
    from tests import vsix_factory

    user, namespace = "carol@daybreak.example", "heldback"
    add_local_user(served, user)
    first = vsix_factory.build_vsix(tmp_path / "tool-1.0.0.vsix", publisher=namespace, name="tool", version="1.0.0")
    second = vsix_factory.build_vsix(
        tmp_path / "tool-1.0.1.vsix", publisher=namespace, name="tool", version="1.0.1",
        package_json_overrides={"activationEvents": ["*"]},
        extra_files={"extension/bin/helper.node": b"\x7fELF\x02\x01\x01" + bytes(4096)})
    with watched(chromium) as browser:
        page = browser.page
        sign_in(page, served, user)
        page.get_by_label("Name").fill(namespace)
        page.get_by_role("button", name="Create namespace").click()
        assert f"Published {namespace}.tool 1.0.0" in upload(page, served, first)
        held = upload(page, served, second)
        assert "Held for review" in held and "update." in held, held
        assert page.locator("#upload-verdict").get_attribute("class") == "verdict verdict-quarantined"
        assert browser.log.problems() == []
    status, _, body = http("GET", f"{served.base_url}/api/{namespace}/tool")
    assert status == 200 and json.loads(body)["version"] == "1.0.0"
