"""The operator CLI against a running local marketplace: publishers, members and tokens."""

from __future__ import annotations

import json

import pytest

from tests.e2e.conftest import Served, http

pytestmark = pytest.mark.slow


def test_publisher_and_token_lifecycle(served: Served):
    created = served.cli("publisher", "create", "clipub", "--owner", "alice@example.com")
    assert "Created publisher clipub (owner alice@example.com)" in created.stdout
    token = created.stdout.strip().splitlines()[-1]
    assert token.startswith("mkp_")

    body = json.dumps({"fileName": "a.vsix", "size": 10, "sha256": "0" * 64}).encode()
    headers = {"Authorization": f"Bearer {token}", "Content-Type": "application/json"}
    status, _, answer = http("POST", f"{served.base_url}/api/publish/uploads", body, headers)
    assert status == 201, answer

    listed = json.loads(served.cli("token", "list", "--user", "alice@example.com", "--json").stdout)
    assert [row["state"] for row in listed] == ["active"] and listed[0]["last_used"] is not None
    assert token not in json.dumps(listed)

    served.cli("token", "revoke", listed[0]["id"])
    status, _, answer = http("POST", f"{served.base_url}/api/publish/uploads", body, headers)
    assert status == 401 and "revoked" in json.loads(answer)["message"]


def test_reserved_names_and_errors_are_one_clear_line(served: Served):
    refused = served.cli("publisher", "create", "microsoft", "--owner", "mallory", check=False)
    assert refused.returncode == 1 and "reserved" in refused.stderr and "Traceback" not in refused.stderr
    served.cli("publisher", "create", "microsoft", "--owner", "operator", "--allow-reserved")
    again = served.cli("publisher", "create", "microsoft", "--owner", "operator", "--allow-reserved", check=False)
    assert again.returncode == 1 and "already exists" in again.stderr


def test_members_and_multi_namespace_tokens(served: Served):
    served.cli("publisher", "create", "teama", "--owner", "carol")
    served.cli("publisher", "create", "teamb", "--owner", "dave")
    denied = served.cli("token", "create", "--user", "carol", "--namespace", "teamb", check=False)
    assert denied.returncode == 1 and "not a member" in denied.stderr
    served.cli("publisher", "member", "teamb", "carol")
    token = json.loads(served.cli("token", "create", "--user", "carol", "--namespace", "teama",
                                  "--namespace", "teamb", "--days", "7", "--json").stdout)
    assert token["token"].startswith("mkp_") and token["namespaces"] == ["teama", "teamb"]


def test_without_a_running_marketplace_the_cli_says_what_to_do(served: Served, tmp_path):
    env = {**served.env, "MARKETPLACE_STATE_FILE": str(tmp_path / "none.json")}
    import subprocess

    from tests.e2e.conftest import MARKETPLACE, ROOT

    result = subprocess.run([str(MARKETPLACE), "token", "list", "--user", "x"], capture_output=True, text=True,
                            env=env, cwd=ROOT, timeout=60)
    assert result.returncode == 2 and "./dev serve" in result.stderr


def test_the_operator_lists_publishers_removes_members_and_sees_every_token(served: Served):
    served.cli("publisher", "create", "listpub", "--owner", "erin")
    served.cli("publisher", "member", "listpub", "frank", "--role", "owner")
    listed = {p["namespace"]: p for p in json.loads(served.cli("publisher", "list", "--json").stdout)}
    assert sorted((m["user"], m["role"]) for m in listed["listpub"]["members"]) == [("erin", "owner"),
                                                                                   ("frank", "owner")]
    served.cli("publisher", "member", "listpub", "frank", "--remove")
    last = served.cli("publisher", "member", "listpub", "erin", "--remove", check=False)
    assert last.returncode != 0 and "last owner of 'listpub'" in last.stderr
    tokens = json.loads(served.cli("token", "list", "--all", "--json").stdout)
    assert any(t["user"] == "erin" and t["namespaces"] == ["listpub"] for t in tokens)
    assert all("token" not in t for t in tokens)
    lookalike = served.cli("publisher", "create", "list-pub", "--owner", "mallory", check=False)
    assert lookalike.returncode != 0 and "reads like the existing namespace 'listpub'" in lookalike.stderr
