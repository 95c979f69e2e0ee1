"""The admin API: values changed while serving, kept across config reloads, listed, reset."""

from __future__ import annotations

import asyncio

from tests.conftest import EXAMPLE, FLAVOR

V1 = "/computeMetadata/v1/"
ADMIN = "/emulator/v1/metadata/"


async def value(client, path: str) -> tuple[int, bytes]:
    resp = await client.get(V1 + path, headers=FLAVOR)
    return resp.status, await resp.read()


async def test_set_json_and_delete(client):
    resp = await client.put(ADMIN + "instance/maintenance-event",
                            data="TERMINATE_ON_HOST_MAINTENANCE")
    doc = await resp.json()
    assert resp.status == 200 and doc["path"] == "instance/maintenance-event"
    assert await value(client, "instance/maintenance-event") == (
        200, b"TERMINATE_ON_HOST_MAINTENANCE")
    resp = await client.put(ADMIN + "instance/preempted", json=True)
    assert await value(client, "instance/preempted") == (200, b"TRUE")
    await client.put(ADMIN + "project/attributes/new-key", data="v")
    assert (await value(client, "project/attributes/"))[1] == b"env\nnew-key\n"
    await client.delete(ADMIN + "instance/attributes/role")
    assert (await value(client, "instance/attributes/role"))[0] == 404
    await client.put(ADMIN + "instance/tags", json=["http-server", "db"])
    resp = await client.get(V1 + "instance/tags", headers=FLAVOR)
    assert await resp.read() == b'["http-server","db"]'
    assert resp.headers["Content-Type"] == "application/json"
    await client.put(ADMIN + "instance/network-interfaces/0/ip", data="10.9.9.9")
    assert await value(client, "instance/network-interfaces/0/ip") == (200, b"10.9.9.9")


async def test_refusals(client):
    for method, path, body, status, words in (
        ("PUT", "instance/service-accounts/default/email", "x", 400, "service-accounts key"),
        ("PUT", "nowhere/key", "x", 400, "not below instance/"),
        ("PUT", "instance/scheduling", "x", 400, "is a directory"),
        ("PUT", "instance/attributes/extra", {"a": "1"}, 400, "attribute values are text"),
        ("PUT", "instance/disks/5/mode", "x", 400, "no entry with that index"),
        ("PUT", "instance/name/sub", "x", 400, "not a directory"),
        ("POST", "instance/name", "x", 405, "PUT"),
    ):
        kwargs = {"json": body} if isinstance(body, dict) else {"data": body}
        resp = await client.request(method, ADMIN + path, **kwargs)
        assert resp.status == status, path
        assert words in await resp.text(), path
    resp = await client.put(ADMIN + "instance/name", data=b"{bad",
                            headers={"Content-Type": "application/json"})
    assert resp.status == 400 and "not valid JSON" in await resp.text()
    assert await value(client, "instance/name") == (200, b"dev-vm")


async def test_overrides_survive_a_reload_and_can_be_reset(make_client, tmp_path):
    client, _ = await make_client()
    await client.put(ADMIN + "instance/attributes/flag", data="on")
    (tmp_path / "config.yaml").write_text(EXAMPLE.read_text().replace("role: web",
                                                                      "role: db"))
    for _ in range(40):
        if (await value(client, "instance/attributes/role"))[1] == b"db":
            break
        await asyncio.sleep(0.1)
    assert await value(client, "instance/attributes/role") == (200, b"db")
    assert await value(client, "instance/attributes/flag") == (200, b"on")
    listed = await (await client.get("/emulator/v1/overrides")).json()
    assert listed == {"overrides": {"instance/attributes/flag": "on"}}
    await client.delete("/emulator/v1/overrides")
    assert (await value(client, "instance/attributes/flag"))[0] == 404


async def test_stats(client):
    stats = await (await client.get("/emulator/v1/stats")).json()
    assert stats == {"watchers": 0, "token_mode": "local", "upstream_calls": 0,
                     "cached_tokens": 0}
