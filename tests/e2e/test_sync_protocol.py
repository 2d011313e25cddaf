"""The Settings Sync store over real HTTP, driven by a client written from the protocol reference.

``tests/sync_protocol.py`` behaves like VS Code's ``UserDataSyncStoreClient`` and its synchronizers
(docs/protocols/settings-sync.md); here two machines of one user go through the client's real
sequence against ``marketplace serve``, and every response is checked for the headers the client and the
store contract require (§ numbers refer to docs/protocols/settings-sync.md).
"""

from __future__ import annotations

import json
import re
import time
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any
from urllib.parse import quote, urlsplit

import jwt
import pytest
from cryptography.hazmat.primitives.asymmetric import ec

from marketplace.local.durable.directory import ISSUER_KEY_FILE
from tests.e2e.conftest import Served
from tests.sync_protocol import (
    EditSessions,
    ErrorCode,
    Exchange,
    Machine,
    RemoteData,
    StoreClient,
    SyncResult,
    SyncStoreError,
    envelope,
    open_envelope,
    union_merge,
)

pytestmark = pytest.mark.slow

ACCOUNT_TYPE = "local"
MAX_BODY = 4 * 1024 * 1024
ORIGIN = "http://127.0.0.1:8090"
BASIC_RESOURCES = ("settings", "keybindings", "extensions", "globalState", "machines")
# what the client sends cross-origin (§C2): a browser preflight must allow all of it
CLIENT_HEADERS = ("authorization", "x-account-type", "x-client-name", "x-client-version", "x-client-commit",
                  "x-machine-session-id", "x-user-session-id", "x-execution-id", "content-type", "cache-control",
                  "if-match", "if-none-match")

_RESOURCE = r"(?:/collection/[^/]+)?/resource/[^/]+"


def _kind(exchange: Exchange) -> str | None:
    """Which §C3 call an exchange was, for the calls with ETag rules."""
    rest = urlsplit(exchange.url).path.partition("/sync/v1")[2]
    if exchange.method == "GET" and rest == "/manifest":
        return "manifest"
    if exchange.method == "GET" and re.fullmatch(_RESOURCE + "/latest", rest):
        return "latest"
    if exchange.method == "POST" and re.fullmatch(_RESOURCE, rest):
        return "write"
    return None


def etag_problems(exchange: Exchange) -> list[str]:
    """§C3.1: ETag on every 2xx of manifest / latest / write (204 included, ``0`` for a missing resource);
    304 only on manifest and latest reads that sent If-None-Match."""
    kind, status, etag = _kind(exchange), exchange.status, exchange.header("etag")
    where = f"{exchange.method} {urlsplit(exchange.url).path} -> {status}"
    problems = []
    if kind is not None and 200 <= status < 300 and not etag:
        problems.append(f"{where}: no ETag")
    if kind == "latest" and status == 204 and etag != "0":
        problems.append(f"{where}: ETag {etag!r} instead of '0' for a missing resource")
    if kind == "write" and 200 <= status < 300 and etag == "0":
        problems.append(f"{where}: a write answered ETag '0'")
    if status == 304:
        if kind not in ("manifest", "latest") or not exchange.sent("If-None-Match"):
            problems.append(f"{where}: 304 where the client does not accept it")
        elif etag is not None and etag != exchange.sent("If-None-Match"):
            problems.append(f"{where}: 304 with ETag {etag!r} for If-None-Match {exchange.sent('If-None-Match')!r}")
    return problems


# -- fixtures ------------------------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def token_for(served: Served) -> Callable[[str], str]:
    tokens: dict[str, str] = {}

    def token(user: str) -> str:
        if user not in tokens:
            tokens[user] = served.cli("dev-token", user).stdout.strip().splitlines()[-1]
        return tokens[user]

    return token


@pytest.fixture
def client_for(served: Served, token_for: Callable[[str], str]) -> Iterator[Callable[..., StoreClient]]:
    """New protocol clients; after the test, every response any of them received is audited."""
    made: list[StoreClient] = []

    def make(user: str | None = None, *, token: str | None = None, account_type: str = ACCOUNT_TYPE,
             **options: Any) -> StoreClient:
        client = StoreClient(f"{served.base_url}/sync", token if user is None else token_for(user), account_type,
                             **options)
        made.append(client)
        return client

    yield make
    problems = [p for client in made for p in client.problems]
    problems += [p for client in made for exchange in client.exchanges for p in etag_problems(exchange)]
    assert not problems, "\n".join(problems)


@pytest.fixture
def machine_for(client_for: Callable[..., StoreClient]) -> Callable[[str, str], Machine]:
    def make(user: str, name: str) -> Machine:
        return Machine(client_for(user), name)

    return make


def take_local(local: str | None, remote: str | None, base: str | None) -> str:
    """Merge for list-shaped content (keybindings, extensions): this machine's edit wins, else remote."""
    return local if local is not None else (remote if remote is not None else "[]")


def since(client: StoreClient, start: int) -> list[Exchange]:
    return client.exchanges[start:]


def one(exchanges: list[Exchange], method: str, suffix: str, status: int | None = None) -> Exchange:
    found = [e for e in exchanges if e.method == method and urlsplit(e.url).path.endswith(suffix)
             and (status is None or e.status == status)]
    assert len(found) == 1, (method, suffix, status, found)
    return found[0]


def error_of(exchange: Exchange) -> dict[str, Any]:
    body = exchange.json()
    assert isinstance(body, dict) and isinstance(body.get("error"), str) and isinstance(body.get("message"), str), body
    assert "json" in (exchange.header("content-type") or "")
    return body


# -- scenarios -----------------------------------------------------------------------------------------------


def test_two_machines_of_one_user_sync_race_and_stay_apart_from_another_user(machine_for, client_for):
    started = time.time()
    a, b = machine_for("alice", "Laptop (Linux) #1"), machine_for("alice", "Desktop (Windows) #1")

    # a fresh user: 204 + ETag, and no resource yet (204 + ETag 0)
    assert a.client.manifest() is None
    fresh = a.client.exchanges[-1]
    assert fresh.status == 204 and fresh.header("etag") and fresh.body == b""
    assert a.client.read_resource("settings") == RemoteData("0", None)
    assert a.client.get_all_resource_refs("settings") == [] and a.client.get_all_collections() == []

    # machine A's first sync of each resource: manifest, read latest (204), write with If-Match 0
    a.edit("settings", json.dumps({"editor.fontSize": 14, "files.autoSave": "off"}))
    a.edit("keybindings", json.dumps([{"key": "ctrl+k", "command": "workbench.action.quickOpen"}]))
    a.edit("extensions", json.dumps([{"identifier": {"id": "ms-python.python"}, "version": "2025.1.0"}]))
    a.edit("globalState", json.dumps({"storage": {"workbench.panel.width": {"version": 1, "value": "300"}}}))
    start = len(a.client.exchanges)
    first = {name: a.sync(name, take_local if name in ("keybindings", "extensions") else union_merge)
             for name in BASIC_RESOURCES[:-1]}
    first["machines"] = a.sync_machines()
    assert all(result.wrote and result.read_remote and result.conflicts == 0 for result in first.values())
    assert len({result.ref for result in first.values()}) == len(first)
    session = a.session
    assert isinstance(session, str) and session

    # the headers of A's first sync (§C2)
    run = since(a.client, start)
    assert all(e.sent("authorization") == f"Bearer {a.client.token}" and e.sent("X-Account-Type") == ACCOUNT_TYPE
               and e.sent("X-Client-Name") and e.sent("X-Client-Version")
               and e.sent("X-Machine-Session-Id") == a.client.machine_session_id for e in run)
    assert run[0].sent("X-User-Session-Id") is None  # no manifest had been read
    manifests = [e for e in run if _kind(e) == "manifest"]
    assert manifests[-1].status == 200 and manifests[-1].json()["session"] == session  # §C7 step 8
    for e in run:
        assert e.sent("X-Execution-Id")
        if _kind(e) == "latest":
            assert e.sent("Cache-Control") == "no-cache" and e.sent("If-None-Match") is None and e.status == 204
            assert e.header("etag") == "0"
        if _kind(e) == "write":
            assert e.sent("Content-Type") == "text/plain" and e.sent("If-Match") == "0"
        if _kind(e) == "manifest":
            assert e.sent("Content-Type") == "application/json"
    by_run: dict[str, set[str]] = {}
    for e in run:
        by_run.setdefault(e.sent("X-Execution-Id") or "", set()).add(urlsplit(e.url).path)
    assert len(by_run) == len(BASIC_RESOURCES)  # one execution id per sync run, shared by its requests

    # the manifest now lists every resource at the ref its write returned
    manifest = a.client.manifest()
    assert manifest is not None and manifest.session == session and a.client.user_session_id == session
    assert a.client.exchanges[-1].sent("X-User-Session-Id") == session
    assert {name: manifest.latest.get(name) for name in BASIC_RESOURCES} == {n: r.ref for n, r in first.items()}
    assert not manifest.collections
    machines_body = json.loads(a.client.read_resource("machines").content or "")
    assert machines_body == {"version": 1, "machines": [{"id": a.machine_id, "name": a.name}]}  # raw JSON (§C4)
    stored = a.client.read_resource("settings")
    assert stored.ref == first["settings"].ref
    assert open_envelope(stored.content or "", "settings", 2) == (2, a.machine_id, first["settings"].content)

    # machine B's first sync reads A's data and adds itself to the machine list
    b_settings = b.sync("settings")
    assert b_settings.read_remote and not b_settings.wrote and b_settings.content == first["settings"].content
    assert b.session == session
    b_machines = b.sync_machines()
    assert b_machines.wrote and b_machines.conflicts == 0
    listed = json.loads(b.client.read_resource("machines").content or "")["machines"]
    assert [m["id"] for m in listed] == [a.machine_id, b.machine_id]

    # both edit settings; A writes first (while B is between its manifest and its write): B gets 412,
    # re-reads latest bypassing the cache, merges again and wins on the retry
    a.edit("settings", json.dumps({**json.loads(a.content("settings") or "{}"), "editor.tabSize": 2}))
    b.edit("settings", json.dumps({**json.loads(b.content("settings") or "{}"), "editor.wordWrap": "on"}))
    a_results: list[SyncResult] = []

    def racing_merge(local: str | None, remote: str | None, base: str | None) -> str:
        if not a_results:
            a_results.append(a.sync("settings"))
        return union_merge(local, remote, base)

    b_start = len(b.client.exchanges)
    b_race = b.sync("settings", racing_merge)
    a_race = a_results[0]
    assert a_race.wrote and not a_race.read_remote and a_race.conflicts == 0
    assert b_race.wrote and b_race.conflicts == 1 and b_race.read_remote
    merged = json.loads(b_race.content)
    assert merged == {"editor.fontSize": 14, "files.autoSave": "off", "editor.tabSize": 2, "editor.wordWrap": "on"}
    race = since(b.client, b_start)
    assert [(_kind(e), e.status) for e in race[1:3]] == [("write", 412), ("latest", 200)], race
    assert _kind(race[0]) == "manifest" and race[0].status in (200, 304)
    assert _kind(race[3]) == "write" and 200 <= race[3].status < 300 and len(race) == 4
    rejected, reread, retried = race[1], race[2], race[3]
    assert rejected.status == 412 and rejected.sent("If-Match") == first["settings"].ref
    error_of(rejected)
    assert _kind(reread) == "latest" and reread.sent("If-None-Match") is None
    assert reread.sent("Cache-Control") == "no-cache" and reread.header("etag") == a_race.ref
    assert retried.sent("If-Match") == a_race.ref and retried.header("etag") == b_race.ref
    assert len({e.sent("X-Execution-Id") for e in race}) == 1

    # A's next sync reads B's merge (its If-None-Match is stale, so 200) and has nothing to write
    a_start = len(a.client.exchanges)
    a_again = a.sync("settings")
    assert a_again.read_remote and not a_again.wrote and json.loads(a_again.content) == merged
    reread_a = one(since(a.client, a_start), "GET", "/resource/settings/latest")
    assert reread_a.sent("If-None-Match") == a_race.ref and reread_a.status == 200

    # If-None-Match with the current ref: 304 on manifest and latest
    current = a.client.manifest()
    assert current is not None and a.client.manifest(current) is current
    assert a.client.exchanges[-1].status == 304
    cached = RemoteData(b_race.ref, b.last_synced[(None, "settings")].body)
    assert a.client.read_resource("settings", cached) is cached
    assert a.client.exchanges[-1].status == 304 and a.client.exchanges[-1].header("x-operation-id")
    assert current.latest["settings"] == b_race.ref

    # ref list: newest first, url = <resource path>/<ref>, created in seconds
    refs = a.client.get_all_resource_refs("settings")
    assert [r.ref for r in refs] == [b_race.ref, a_race.ref, first["settings"].ref]
    assert [r.created for r in refs] == sorted((r.created for r in refs), reverse=True)
    assert all(started - 5 <= r.created <= time.time() + 5 for r in refs), refs
    assert all(r.url == f"/sync/v1/resource/settings/{r.ref}" for r in refs)
    # read by ref returns each body byte for byte
    assert a.client.resolve_resource_content("settings", first["settings"].ref) == envelope(
        2, a.machine_id, first["settings"].content)
    assert a.client.resolve_resource_content("settings", b_race.ref) == b.last_synced[(None, "settings")].body
    assert a.client.exchanges[-1].sent("Cache-Control") == "no-cache"

    # delete one ref: it is gone, the others and latest stay
    a.client.delete_resource("settings", first["settings"].ref)
    assert [r.ref for r in a.client.get_all_resource_refs("settings")] == [b_race.ref, a_race.ref]
    try:
        assert a.client.resolve_resource_content("settings", first["settings"].ref) is None
    except SyncStoreError as error:
        assert error.code == ErrorCode.NOT_FOUND
    assert a.client.read_resource("settings").ref == b_race.ref

    # another user sees none of it, and cannot touch it
    bob = client_for("bob")
    assert bob.manifest() is None
    assert bob.read_resource("settings") == RemoteData("0", None)
    assert bob.get_all_resource_refs("settings") == [] and bob.get_all_collections() == []
    try:
        assert bob.resolve_resource_content("settings", b_race.ref) is None
    except SyncStoreError as error:
        assert error.code == ErrorCode.NOT_FOUND
    latest = bob.get_latest_data()
    assert latest is None or (latest.resources == {} and latest.collections == {})
    try:
        bob.delete_resource("settings", b_race.ref)
    except SyncStoreError as error:
        assert error.code == ErrorCode.NOT_FOUND
    with pytest.raises(SyncStoreError) as stale:  # bob's If-Match against alice's ref: his resource is missing
        bob.write_resource("settings", envelope(2, "bob-machine", "{}"), b_race.ref)
    assert stale.value.code == ErrorCode.PRECONDITION_FAILED
    assert [r.ref for r in a.client.get_all_resource_refs("settings")] == [b_race.ref, a_race.ref]
    assert bob.manifest() is None, "requests that stored nothing gave bob a session (manifest 200, not 204)"


def test_profiles_live_in_collections(machine_for):
    a, b = machine_for("carol", "A"), machine_for("carol", "B")
    a.edit("settings", json.dumps({"editor.fontSize": 12}))
    a.sync("settings")

    start = len(a.client.exchanges)
    work = a.create_profile("Work")
    created = one(since(a.client, start), "POST", "/sync/v1/collection")
    assert 200 <= created.status < 300 and created.text == work and work.strip() == work and "/" not in work
    assert created.sent("Content-Type") == "text/plain" and created.request_body == b""
    a.edit("settings", json.dumps({"workbench.colorTheme": "Dark"}), collection=work)
    a.edit("keybindings", json.dumps([{"key": "f5", "command": "run"}]), collection=work)
    work_settings = a.sync("settings", collection=work)
    work_keys = a.sync("keybindings", take_local, collection=work)
    assert work_settings.wrote and work_keys.wrote
    rc_write = a.client.exchanges[-1]
    assert urlsplit(rc_write.url).path == f"/sync/v1/collection/{work}/resource/keybindings"

    manifest = a.client.manifest()
    assert manifest is not None
    assert manifest.collections == {work: {"settings": work_settings.ref, "keybindings": work_keys.ref}}
    assert "keybindings" not in manifest.latest and manifest.latest["settings"] == a.last_synced[(None, "settings")].ref
    profiles = json.loads(open_envelope(a.client.read_resource("profiles").content or "", "profiles", 2)[2])
    assert [(p["name"], p["collection"]) for p in profiles] == [("Work", work)]

    play = a.create_profile("Play")
    assert play != work
    a.edit("settings", json.dumps({"editor.fontSize": 20}), collection=play)
    play_settings = a.sync("settings", collection=play)
    assert sorted(a.client.get_all_collections()) == sorted([work, play])
    rc_refs = a.client.get_all_resource_refs("settings", work)
    assert [r.ref for r in rc_refs] == [work_settings.ref]
    assert rc_refs[0].url == f"/sync/v1/collection/{work}/resource/settings/{work_settings.ref}"
    assert a.client.resolve_resource_content("settings", work_settings.ref, work) == \
        a.last_synced[(work, "settings")].body
    # the same resource name in two collections and the default profile: three separate histories
    assert a.client.read_resource("settings", collection=play).ref == play_settings.ref
    assert len({play_settings.ref, work_settings.ref, manifest.latest["settings"]}) == 3

    # machine B learns the profiles from the manifest and reads their resources
    b_profiles = b.sync("profiles", b.profiles_merge())
    assert b_profiles.read_remote and not b_profiles.wrote
    assert {p["collection"] for p in b.profiles} == {work, play}
    b_work = b.sync("settings", collection=work)
    assert b_work.read_remote and b_work.content == work_settings.content

    # download/latest (§C5.4): every latest body, per resource and per collection
    latest = a.client.get_latest_data()
    raw = a.client.exchanges[-1].json()
    assert set(raw) <= {"resources", "collections"} and isinstance(raw["resources"]["settings"], list)
    assert latest is not None
    manifest = a.client.manifest()
    assert manifest is not None
    assert {name: entry.ref for name, entry in latest.resources.items()} == manifest.latest
    assert latest.resources["settings"].content == a.last_synced[(None, "settings")].body
    assert set(latest.collections) == {work, play}
    assert latest.collections[work]["keybindings"].ref == work_keys.ref
    assert latest.collections[work]["keybindings"].content == a.last_synced[(work, "keybindings")].body
    assert latest.collections[play]["settings"].content == a.last_synced[(play, "settings")].body

    # delete one collection, then all of them; the default profile's data stays
    a.client.delete_collection(play)
    assert a.client.get_all_collections() == [work]
    manifest = a.client.manifest()
    assert manifest is not None and set(manifest.collections) == {work}
    gone = a.client.send("GET", f"{a.client.resource_url('settings', play)}/latest",
                         {"authorization": f"Bearer {a.client.token}", "X-Account-Type": ACCOUNT_TYPE})
    assert (gone.status, gone.header("etag")) == (204, "0") or gone.status == 404, gone
    a.client.delete_collection()
    assert a.client.get_all_collections() == []
    manifest = a.client.manifest()
    assert manifest is not None and manifest.collections == {}
    assert set(manifest.latest) == {"settings", "profiles"}


def test_edit_sessions_and_workspace_state(client_for):
    client = client_for("dave")
    sessions = EditSessions(client)
    first_body = sessions.edit_session({"src/app.py": "print('one')\n"})
    second_body = sessions.edit_session({"src/app.py": "print('two')\n", "README.md": "# two\n"})
    first, second = sessions.write(first_body), sessions.write(second_body)
    assert first != second
    writes = [e for e in client.exchanges if _kind(e) == "write"]
    assert [w.sent("If-Match") for w in writes] == [None, None]  # Edit Sessions always append
    assert writes[0].sent("X-Execution-Id") != writes[1].sent("X-Execution-Id")

    refs = sessions.refs()
    assert [r.ref for r in refs] == [second, first]
    assert all(r.url == f"/sync/v1/resource/editSessions/{r.ref}" for r in refs)
    assert sessions.read() == second_body
    assert client.exchanges[-1].header("etag") == second
    assert sessions.read(first) == first_body

    sessions.delete(second)
    assert [r.ref for r in sessions.refs()] == [first]
    assert sessions.read() == first_body  # latest falls back to the remaining ref
    sessions.delete(None)
    assert sessions.refs() == []
    assert client.read_resource("editSessions") == RemoteData("0", None)

    state = json.dumps({"folders": [{"resourceUri": "file:///work/project", "workspaceFolderIdentity": "id-1"}],
                        "storage": {"scm.input": "wip"}, "version": 1})
    ref = sessions.write(state, resource="workspaceState")
    assert client.read_resource("workspaceState") == RemoteData(ref, state)
    manifest = client.manifest()
    assert manifest is not None and manifest.latest == {"workspaceState": ref}


def test_reset_starts_a_new_session(machine_for):
    a, b = machine_for("erin", "A"), machine_for("erin", "B")
    a.edit("settings", json.dumps({"a": 1}))
    a.sync("settings")
    a.create_profile("Work")
    b.sync("settings")
    old_session = a.session
    assert old_session and b.session == old_session
    old_ref = a.last_synced[(None, "settings")].ref

    start = len(a.client.exchanges)
    a.reset()
    cleared = since(a.client, start)
    assert [(e.method, urlsplit(e.url).path) for e in cleared] == [
        ("DELETE", "/sync/v1/collection"), ("DELETE", "/sync/v1/resource")]
    assert all(200 <= e.status < 300 for e in cleared) and cleared[1].sent("Content-Type") == "text/plain"

    assert a.client.manifest() is None
    assert a.client.exchanges[-1].status == 204 and a.client.exchanges[-1].header("etag")
    assert a.client.read_resource("settings") == RemoteData("0", None)
    assert a.client.get_all_resource_refs("settings") == [] and a.client.get_all_collections() == []
    try:
        assert a.client.resolve_resource_content("settings", old_ref) is None
    except SyncStoreError as error:
        assert error.code == ErrorCode.NOT_FOUND
    with pytest.raises(SyncStoreError) as stale:  # B's If-Match: the resource is gone, its ref is 0
        b.client.write_resource("settings", envelope(2, b.machine_id, "{}"), old_ref)
    assert stale.value.code == ErrorCode.PRECONDITION_FAILED

    a.sync("settings")  # turning sync on again: a new write starts a new session
    assert a.session and a.session != old_session
    b_before = b.client.user_session_id
    with pytest.raises(SyncStoreError) as expired:
        b.sync("settings")
    assert expired.value.code == ErrorCode.SESSION_EXPIRED
    assert b_before == old_session and b.client.exchanges[-1].sent("X-User-Session-Id") == old_session
    assert b.client.exchanges[-1].json()["session"] == a.session


def test_newer_clients_resource_names_work(machine_for, client_for):
    a = machine_for("frank", "A")
    a.edit("prompts", json.dumps({"review.prompt.md": "Review this"}))
    a.edit("mcp", json.dumps({"servers": {"local": {"command": "mcp-server"}}}))
    prompts, mcp = a.sync("prompts"), a.sync("mcp")
    assert prompts.wrote and mcp.wrote
    manifest = a.client.manifest()
    assert manifest is not None and manifest.latest == {"prompts": prompts.ref, "mcp": mcp.ref}
    longest = "z" * 32
    ref = a.client.write_resource(longest, "anything", None)
    assert a.client.read_resource(longest) == RemoteData(ref, "anything")


def test_racing_writers_exactly_one_wins(served: Served, client_for, token_for):
    """Machines writing at the same moment with the same If-Match: one write wins, the rest get 412 (§C3.1)."""
    base_ref = client_for("kate").write_resource("globalState", envelope(1, "m0", "{}"), None)
    writers = [client_for("kate") for _ in range(8)]

    def write(index: int) -> str | ErrorCode:
        try:
            return writers[index].write_resource("globalState", envelope(1, f"m{index}", f"{index}"), base_ref)
        except SyncStoreError as error:
            return error.code

    with ThreadPoolExecutor(max_workers=len(writers)) as pool:
        outcomes = list(pool.map(write, range(len(writers))))
    won = [o for o in outcomes if not isinstance(o, ErrorCode)]
    assert len(won) == 1 and outcomes.count(ErrorCode.PRECONDITION_FAILED) == len(writers) - 1, outcomes
    reader = writers[0]
    assert [r.ref for r in reader.get_all_resource_refs("globalState")] == [won[0], base_ref]
    winner = outcomes.index(won[0])
    assert reader.read_resource("globalState") == RemoteData(won[0], envelope(1, f"m{winner}", f"{winner}"))


def test_bodies_round_trip_byte_for_byte(client_for):
    """§C5.2: the store returns bodies unchanged (non-ASCII, CRLF, a BOM, JSON it must not reformat)."""
    client = client_for("liam")
    bodies = [
        '{"version":1,  "content":"caf\u00e9 \U0001F600\\r\\n\u2028"}\r\n'.encode(),
        b"\xef\xbb\xbf" + '{ "version": 1, "machineId": "x", "content": "\u65e5\u672c" }'.encode(),
    ]
    for body in bodies:
        ref = client.write_resource("snippets", body, None)
        for url in (f"{client.v1}/resource/snippets/latest", f"{client.v1}/resource/snippets/{ref}"):
            answer = _send(client, "GET", url, None)
            assert answer.status == 200 and answer.body == body, (url, answer)


def test_history_keeps_the_last_20_refs(client_for):
    client = client_for("mia", request_limit=None)
    refs = [client.write_resource("keybindings", envelope(2, "m", f"[{i}]"), None) for i in range(23)]
    listed = client.get_all_resource_refs("keybindings")
    assert [r.ref for r in listed] == refs[::-1][:20]
    with pytest.raises(SyncStoreError) as expired:
        client.resolve_resource_content("keybindings", refs[0])
    assert expired.value.code == ErrorCode.NOT_FOUND
    assert client.resolve_resource_content("keybindings", refs[3]) == envelope(2, "m", "[3]")

    # after deleting every ref, the resource's current ref is 0 again: an older If-Match is stale
    client.delete_resource("keybindings", None)
    assert client.get_all_resource_refs("keybindings") == []
    assert client.read_resource("keybindings") == RemoteData("0", None)
    with pytest.raises(SyncStoreError) as stale:
        client.write_resource("keybindings", envelope(2, "m", "[]"), refs[-1])
    assert stale.value.code == ErrorCode.PRECONDITION_FAILED
    again = client.write_resource("keybindings", envelope(2, "m", "[]"), "0")
    assert again not in refs and client.read_resource("keybindings").ref == again


def test_cors_for_browser_clients(served: Served, client_for):
    client = client_for("grace")
    preflight = client.send("OPTIONS", f"{client.v1}/resource/settings", {
        "Origin": ORIGIN, "Access-Control-Request-Method": "POST",
        "Access-Control-Request-Headers": ",".join(CLIENT_HEADERS)})
    assert 200 <= preflight.status < 300
    assert preflight.header("access-control-allow-origin") in ("*", ORIGIN)
    assert "etag" in (preflight.header("access-control-expose-headers") or "").lower()
    allowed = (preflight.header("access-control-allow-headers") or "").lower()
    assert allowed == "*" or set(CLIENT_HEADERS) <= {h.strip() for h in allowed.split(",")}, allowed
    assert {"GET", "POST", "DELETE"} <= {m.strip() for m in (preflight.header("access-control-allow-methods") or "")
                                         .upper().split(",")}

    client.manifest(headers={"Origin": ORIGIN})
    read = client.exchanges[-1]
    assert read.header("access-control-allow-origin") in ("*", ORIGIN) and read.header("etag")
    exposed = {h.strip().lower() for h in (read.header("access-control-expose-headers") or "").split(",")}
    assert {"etag", "x-operation-id", "retry-after"} <= exposed
    # errors reach a browser too (otherwise it sees a network failure instead of 401)
    denied = client.send("GET", f"{client.v1}/manifest", {"Origin": ORIGIN})
    assert denied.status == 401 and denied.header("access-control-allow-origin") in ("*", ORIGIN)


# -- bad input -----------------------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def mint(served: Served, token_for: Callable[[str], str]) -> Callable[..., str]:
    """ES256 tokens like the local issuer's (same header and claims), with chosen changes and key."""
    key_file = Path(served.env["MARKETPLACE_DATA_DIR"]) / ISSUER_KEY_FILE  # the served data directory's

    def make(user: str, key: Any = None, kid: str | None = None, **changes: Any) -> str:
        model = token_for(user)
        header = jwt.get_unverified_header(model)
        claims = jwt.decode(model, options={"verify_signature": False})
        claims.update(changes)
        signing_key = key if key is not None else key_file.read_bytes()
        return jwt.encode(claims, signing_key, algorithm="ES256", headers={"kid": kid or header.get("kid")})

    return make


def test_tokens_are_checked(served: Served, client_for, mint):
    now = int(time.time())
    # a token we sign like the local issuer does is accepted: the refusals below are about what was changed
    assert client_for(token=mint("ivan")).manifest() is None

    anonymous = client_for("ivan")
    for headers in ({}, {"X-Account-Type": ACCOUNT_TYPE}, {"authorization": "Basic aXZhbjp4"},
                    {"authorization": "Bearer", "X-Account-Type": ACCOUNT_TYPE}):
        answer = anonymous.send("GET", f"{anonymous.v1}/manifest", headers)
        assert answer.status == 401, (headers, answer)
        error_of(answer)

    stranger_key = ec.generate_private_key(ec.SECP256R1())
    refused = {
        "garbage": "not-a-token",
        "unknown key, known kid": mint("ivan", key=stranger_key),
        "unknown key and kid": mint("ivan", key=stranger_key, kid="not-a-known-kid"),
        "other audience": mint("ivan", aud="someone-else"),
        "other issuer": mint("ivan", iss="https://issuer.invalid/local-issuer"),
        "expired": mint("ivan", iat=now - 7200, nbf=now - 7200, exp=now - 3600),
        "not yet valid": mint("ivan", iat=now, nbf=now + 3600, exp=now + 7200),
    }
    for what, token in refused.items():
        failed: list[ErrorCode] = []
        client = client_for(token=token, on_token_failed=failed.append)
        with pytest.raises(SyncStoreError) as error:
            client.manifest()
        assert error.value.code == ErrorCode.UNAUTHORIZED, what
        assert error.value.exchange is not None and error.value.exchange.status == 401, what
        error_of(error.value.exchange)
        assert failed == [ErrorCode.UNAUTHORIZED] and client.token is None, what
        sent = len(client.exchanges)  # the client dropped the token: it does not call again
        with pytest.raises(SyncStoreError):
            client.read_resource("settings")
        assert len(client.exchanges) == sent

    wrong_account = client_for("ivan", account_type="github")
    with pytest.raises(SyncStoreError) as error:
        wrong_account.manifest()
    assert error.value.code == ErrorCode.UNAUTHORIZED


def test_bad_requests_get_json_errors(served: Served, client_for):
    client = client_for("judy", request_limit=None)
    ref = client.write_resource("settings", envelope(2, "m", "{}"), None)

    for name in ("set-tings", "a" * 33, "settings2", "12345", "sett_ings"):
        url = f"{client.v1}/resource/{quote(name, safe='')}"
        for method, target, body in (("GET", f"{url}/latest", None), ("POST", url, b"x"), ("GET", url, None),
                                     ("DELETE", url, None)):
            answer = _send(client, method, target, body)
            assert 400 <= answer.status < 500, (name, method, answer)
            error_of(answer)

    for bad_ref in ("not a ref!", "x" * 300):
        for method in ("GET", "DELETE"):
            answer = _send(client, method, f"{client.v1}/resource/settings/{quote(bad_ref, safe='')}", None)
            assert answer.status == 400, (bad_ref, method, answer)
            error_of(answer)

    with pytest.raises(SyncStoreError) as too_large:
        client.write_resource("settings", b"x" * (MAX_BODY + 1), ref)
    assert too_large.value.code == ErrorCode.TOO_LARGE and too_large.value.resource == "settings"
    error_of(client.exchanges[-1])

    with pytest.raises(SyncStoreError) as not_utf8:
        client.write_resource("settings", b'{"version":2,"content":"\xff\xfe"}', ref)
    assert not_utf8.value.status == 400
    error_of(client.exchanges[-1])

    # nothing above changed the data; a body of exactly the limit is stored and read back unchanged
    assert client.read_resource("settings").ref == ref
    prefix, suffix = '{"version":2,"machineId":"m","content":"', '"}'
    largest = prefix + "a" * (MAX_BODY - len(prefix) - len(suffix)) + suffix
    big_ref = client.write_resource("settings", largest, ref)
    assert client.read_resource("settings") == RemoteData(big_ref, largest)
    assert client.resolve_resource_content("settings", big_ref) == largest


def _send(client: StoreClient, method: str, url: str, body: bytes | None) -> Exchange:
    """A request with the client's headers but none of its checks (the answer is an error on purpose)."""
    headers = {"authorization": f"Bearer {client.token}", "X-Account-Type": client.account_type,
               "X-Client-Name": client.client_name, "X-Client-Version": client.client_version}
    if body is not None:
        headers["Content-Type"] = "text/plain"
    return client.send(method, url, headers, body)


def test_rate_limit_answers_429_with_retry_after(client_for):
    probe = client_for("mallory", request_limit=None)
    url = f"{probe.v1}/manifest"
    limited = None
    with ThreadPoolExecutor(max_workers=8) as pool:
        for _ in range(26):  # up to 1,300 requests, in parallel batches so they fit one window
            answers = list(pool.map(lambda _: _send(probe, "GET", url, None), range(50)))
            assert {a.status for a in answers} <= {204, 429}, answers
            limited = next((a for a in answers if a.status == 429), None)
            if limited is not None:
                break
    assert limited is not None, "no 429 after 1,300 requests"
    error_of(limited)
    retry_after = int(limited.header("retry-after") or "")
    assert 0 < retry_after <= 60

    client = client_for("mallory")
    with pytest.raises(SyncStoreError) as refused:
        client.manifest()
    assert refused.value.code == ErrorCode.TOO_MANY_REQUESTS_AND_RETRY_AFTER
    assert client.donot_make_requests_until is not None and client.donot_make_requests_until > time.time()
    sent = len(client.exchanges)
    with pytest.raises(SyncStoreError) as local:  # the client waits out Retry-After without calling
        client.manifest()
    assert local.value.code == ErrorCode.TOO_MANY_REQUESTS_AND_RETRY_AFTER and len(client.exchanges) == sent
