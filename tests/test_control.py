"""The control API a test drives: faults, scenarios, one override, the request log and its
stream, the tree and accounts views, reset; and the inspector page's reach."""

from __future__ import annotations

import asyncio
import json
import re
import time
from datetime import UTC, datetime, timedelta

from tests.conftest import FLAVOR

V1 = "/computeMetadata/v1/"
TOKEN = V1 + "instance/service-accounts/default/token"
IDENTITY = V1 + "instance/service-accounts/default/identity"
API = "/emulator/v1/"


async def post(client, path, body=None):
    resp = await client.post(API + path, json=body if body is not None else {})
    return resp.status, await resp.json() if resp.content_type == "application/json" \
        else await resp.text()


async def test_token_faults_count_down_then_the_token_is_served(client):
    status, fault = await post(client, "faults", {"kind": "token", "status": 503, "count": 2})
    assert status == 201 and fault["remaining"] == 2
    statuses = [(await client.get(TOKEN, headers=FLAVOR)).status for _ in range(3)]
    assert statuses == [503, 503, 200]
    assert (await (await client.get(API + "faults")).json())["faults"] == []


async def test_a_fault_for_one_account_leaves_the_others(make_client):
    client, _ = await make_client()
    await post(client, "faults", {"kind": "identity", "status": 403,
                                  "account": "batch@acme-dev.iam.gserviceaccount.com"})
    batch = V1 + "instance/service-accounts/batch@acme-dev.iam.gserviceaccount.com/identity"
    assert (await client.get(IDENTITY + "?audience=a", headers=FLAVOR)).status == 200
    resp = await client.get(batch + "?audience=a", headers=FLAVOR)
    assert resp.status == 403 and "injected" in await resp.text()
    assert (await client.get(batch + "?audience=a", headers=FLAVOR)).status == 200


async def test_latency_alone_slows_the_answer_down(client):
    await post(client, "faults", {"kind": "token", "latency": "300ms"})
    started = time.monotonic()
    resp = await client.get(TOKEN, headers=FLAVOR)
    assert resp.status == 200 and time.monotonic() - started >= 0.3


async def test_a_tree_outage_answers_503_for_its_duration(client):
    status, fault = await post(client, "faults", {"kind": "tree", "duration": "400ms"})
    assert status == 201 and fault["status"] == 503 and fault["ends_in_s"] > 0
    assert (await client.get(V1 + "project/project-id", headers=FLAVOR)).status == 503
    assert (await client.get(TOKEN, headers=FLAVOR)).status == 503
    assert (await client.get("/emulator/health")).status == 200  # the emulator's own stay
    await asyncio.sleep(0.45)
    assert (await client.get(V1 + "project/project-id", headers=FLAVOR)).status == 200
    assert (await (await client.get(API + "faults")).json())["faults"] == []


async def test_faults_are_listed_and_cleared_one_or_all(client):
    _, first = await post(client, "faults", {"kind": "token", "status": 500, "count": 5})
    await post(client, "faults", {"kind": "identity", "status": 404})
    assert [f["kind"] for f in (await (await client.get(API + "faults")).json())["faults"]] \
        == ["token", "identity"]
    assert (await client.delete(API + f"faults/{first['id']}")).status == 200
    assert (await client.delete(API + "faults/999")).status == 404
    assert len((await (await client.get(API + "faults")).json())["faults"]) == 1
    await client.delete(API + "faults")
    assert (await (await client.get(API + "faults")).json())["faults"] == []


async def test_bad_fault_and_scenario_requests_say_what_to_send(client):
    for body, said in (({"kind": "disk", "status": 503}, "kind: expected one of"),
                       ({"kind": "token", "status": 200}, "status: expected an HTTP error"),
                       ({"kind": "token"}, "give a status"),
                       ({"kind": "token", "status": 503, "count": 0}, "count:"),
                       ({"kind": "token", "latency": "soon"}, "latency: expected a duration")):
        status, text = await post(client, "faults", body)
        assert status == 400 and said in text, (body, text)
    status, text = await post(client, "scenarios/earthquake")
    assert status == 400 and "scenarios: maintenance, preemption" in text
    status, text = await post(client, "scenarios/maintenance", {"after": "1s", "at": "x"})
    assert status == 400 and "not both" in text
    resp = await client.post(API + "faults", data=b"[1]",
                             headers={"Content-Type": "application/json"})
    assert resp.status == 400 and "JSON object" in await resp.text()


async def test_maintenance_wakes_watchers_and_ends_by_itself(client):
    path = V1 + "instance/maintenance-event"
    first = await client.get(path, headers=FLAVOR)
    assert await first.text() == "NONE"
    watcher = asyncio.ensure_future(client.get(
        path + f"?wait_for_change=true&last_etag={first.headers['ETag']}", headers=FLAVOR))
    await asyncio.sleep(0.05)
    status, item = await post(client, "scenarios/maintenance",
                              {"kind": "terminate", "duration": "300ms"})
    assert status == 201 and item["event"] == "TERMINATE_ON_HOST_MAINTENANCE"
    assert await (await asyncio.wait_for(watcher, 5)).text() == "TERMINATE_ON_HOST_MAINTENANCE"
    await asyncio.sleep(0.4)
    assert await (await client.get(path, headers=FLAVOR)).text() == "NONE"


async def test_preemption_at_a_wall_clock_time(client):
    at = (datetime.now(UTC) + timedelta(milliseconds=300)).isoformat()
    status, item = await post(client, "scenarios/preemption", {"at": at})
    assert status == 201 and 0 < item["starts_in_s"] <= 0.3
    listed = (await (await client.get(API + "scenarios")).json())["scheduled"]
    assert [s["scenario"] for s in listed] == ["preemption"]
    assert await (await client.get(V1 + "instance/preempted", headers=FLAVOR)).text() == "FALSE"
    await asyncio.sleep(0.4)
    assert await (await client.get(V1 + "instance/preempted", headers=FLAVOR)).text() == "TRUE"
    assert await (await client.get(V1 + "instance/maintenance-event",
                                   headers=FLAVOR)).text() == "TERMINATE_ON_HOST_MAINTENANCE"
    assert (await (await client.get(API + "scenarios")).json())["scheduled"] == []


async def test_a_scheduled_scenario_can_be_cancelled(client):
    await post(client, "scenarios/preemption", {"after": "200ms"})
    await client.delete(API + "scenarios")
    await asyncio.sleep(0.3)
    assert await (await client.get(V1 + "instance/preempted", headers=FLAVOR)).text() == "FALSE"


async def test_one_override_is_read_back(client):
    assert (await client.get(API + "metadata/instance/attributes/role")).status == 404
    await client.put(API + "metadata/instance/attributes/role", data=b"db")
    resp = await client.get(API + "metadata/instance/attributes/role")
    assert await resp.json() == {"path": "instance/attributes/role", "deleted": False,
                                 "value": "db"}
    # a universe or project change, for clients that re-read them
    await client.put(API + "metadata/universe/universe-domain", data=b"example.test")
    assert await (await client.get(V1 + "universe/universe-domain",
                                   headers=FLAVOR)).text() == "example.test"


async def test_the_request_log_says_what_was_asked_never_a_token(client):
    token = (await (await client.get(TOKEN, headers=FLAVOR)).json())["access_token"]
    await client.get(TOKEN, headers=FLAVOR)
    await client.get(TOKEN + "?scopes=a,b", headers=FLAVOR)
    id_token = await (await client.get(IDENTITY + "?audience=https://svc",
                                       headers=FLAVOR)).text()
    await client.get(V1 + "project/project-id")  # no flavor: refused
    await client.get(V1 + "nothing?access_token=ya29.secret&key=AIzaXYZ&keep=1",
                     headers=FLAVOR)
    await client.get(API + "stats")  # the emulator's own paths are not logged
    entries = (await (await client.get(API + "requests")).json())["requests"]
    assert [e["status"] for e in entries] == [200, 200, 200, 200, 403, 404]
    first, second, scoped, identity, refused, secret = entries
    assert first["token"] == {"account": "app@acme-dev.iam.gserviceaccount.com",
                              "cached": False,
                              "scopes": ["https://www.googleapis.com/auth/cloud-platform"]}
    assert second["token"]["cached"] is True
    assert scoped["token"]["scopes"] == ["a", "b"] and scoped["token"]["cached"] is False
    assert identity["identity"] == {"account": "app@acme-dev.iam.gserviceaccount.com",
                                    "cached": False, "audience": "https://svc"}
    assert refused["refused"] == "Missing Metadata-Flavor:Google header."
    assert secret["path"] == ("/computeMetadata/v1/nothing?access_token=REDACTED&key=REDACTED"
                              "&keep=1")
    assert first["method"] == "GET" and first["client"] == "127.0.0.1"
    assert first["latency_ms"] >= 0 and first["time"].endswith("Z")
    text = json.dumps(entries)
    assert token not in text and id_token not in text and "ya29.secret" not in text
    assert len((await (await client.get(API + "requests?limit=2")).json())["requests"]) == 2
    await client.delete(API + "requests")
    assert (await (await client.get(API + "requests")).json())["requests"] == []


async def test_the_log_is_a_ring_of_the_configured_size(make_client):
    client, _ = await make_client("emulator: {request-log-size: 3}\n")
    for _ in range(5):
        await client.get(V1 + "project/project-id", headers=FLAVOR)
    entries = (await (await client.get(API + "requests")).json())["requests"]
    assert [e["id"] for e in entries] == [3, 4, 5]
    client, _ = await make_client("emulator: {request-log-size: 0}\n")
    await client.get(V1 + "project/project-id", headers=FLAVOR)
    assert (await (await client.get(API + "requests")).json())["requests"] == []


async def test_the_stream_sends_each_request_as_it_is_answered(client):
    stream = await client.get(API + "requests/stream")
    assert stream.headers["Content-Type"] == "text/event-stream"
    assert (await stream.content.readline()).startswith(b": ")
    await stream.content.readline()
    await client.get(TOKEN, headers=FLAVOR)
    line = await asyncio.wait_for(stream.content.readline(), 5)
    assert line.startswith(b"data: ")
    event = json.loads(line[6:])
    assert event["path"] == TOKEN and event["token"]["cached"] is False
    stream.close()


async def test_tree_accounts_and_reset(client):
    await client.put(API + "metadata/instance/attributes/role", data=b"db")
    await post(client, "faults", {"kind": "token", "status": 503, "count": 9})
    await post(client, "scenarios/preemption", {"after": "10s"})
    tree = await (await client.get(API + "tree")).json()
    assert tree["instance"]["attributes"]["role"] == "db"
    assert tree["project"]["projectId"] == "acme-dev"
    accounts = await (await client.get(API + "accounts")).json()
    assert accounts["token_mode"] == "local" and accounts["profile"] == "gce"
    assert accounts["accounts"][0] == "app@acme-dev.iam.gserviceaccount.com"
    status, _ = await post(client, "reset")
    assert status == 200
    assert (await (await client.get(API + "overrides")).json())["overrides"] == {}
    assert (await (await client.get(API + "faults")).json())["faults"] == []
    assert (await (await client.get(API + "scenarios")).json())["scheduled"] == []
    assert (await (await client.get(API + "requests")).json())["requests"] == []
    assert (await client.get(TOKEN, headers=FLAVOR)).status == 200
    cached = (await (await client.get(API + "accounts")).json())["cached"]
    assert cached[0]["kind"] == "access" and 3500 < cached[0]["expires_in"] <= 3600
    assert "token" not in json.dumps(cached).replace("token_mode", "")


async def test_the_inspector_page_is_served_to_this_machine_only(make_client):
    client, _ = await make_client()
    resp = await client.get("/emulator/")
    assert resp.status == 200 and resp.headers["Content-Type"] == "text/html; charset=utf-8"
    page = await resp.text()
    assert "<script>" in page and "EventSource" in page
    assert not re.search(r"""(src|href)=["']?(https?:)?//""", page)  # nothing from elsewhere
    client, _ = await make_client("emulator: {admin: off}\n")
    assert (await client.get("/emulator/")).status == 403
