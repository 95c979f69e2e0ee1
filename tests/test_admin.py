"""The admin API: values changed while serving, kept across config reloads, listed, reset."""

from __future__ import annotations

import asyncio
from unittest import mock

import pytest
from aiohttp.test_utils import make_mocked_request

from gce_metadata_emulator.store import PathError, split
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
                     "local_mints": 0, "cached_tokens": 0}
    await client.get(V1 + "instance/service-accounts/default/token", headers=FLAVOR)
    stats = await (await client.get("/emulator/v1/stats")).json()
    # a local token is a mint, not a call to Google
    assert (stats["upstream_calls"], stats["local_mints"], stats["cached_tokens"]) == (0, 1, 1)


async def test_token_and_identity_cannot_be_forged(client):
    forged = {"service-accounts": {"default": {"token": "X", "email": "evil@example.com"}}}
    for method, path, body in (("PUT", "instance", forged), ("DELETE", "instance", None),
                               ("PUT", "instance/service-accounts/default/token", "X"),
                               ("DELETE", "instance/service-accounts", None)):
        resp = await client.request(method, ADMIN + path, json=body)
        assert resp.status == 400, path
    resp = await client.get(V1 + "instance/service-accounts/default/token", headers=FLAVOR)
    assert (await resp.json())["access_token"].startswith("ya29.LOCAL-EMULATOR-TOKEN.")


async def test_values_keep_the_kind_of_node_they_replace(client):
    resp = await client.put(ADMIN + "instance/attributes", json={"Mixed-Case-Key": "v",
                                                                  "startup-script": "x"})
    assert resp.status == 200
    resp = await client.get(V1 + "instance/attributes/?recursive=true", headers=FLAVOR)
    assert await resp.json() == {"Mixed-Case-Key": "v", "startup-script": "x"}  # not camelCased
    resp = await client.put(ADMIN + "instance/scheduling",
                            json={"on-host-maintenance": "TERMINATE"})
    resp = await client.get(V1 + "instance/scheduling/?recursive=true", headers=FLAVOR)
    assert await resp.json() == {"onHostMaintenance": "TERMINATE"}  # built-in keys still are
    for path, body, words in (("instance/hostname", {"a": "b"}, "is a value"),
                              ("instance/disks", {"a": "b"}, "numbered directory"),
                              ("instance//attributes/x", "v", "empty")):
        resp = await client.put(ADMIN + path, json=body)
        assert resp.status == 400 and words in await resp.text(), path
    for path in ("instance/./name", "instance/attributes/../name"):  # clients normalise these
        with pytest.raises(PathError, match=r"'\.\.' segment"):
            split(path)


def request_from(remote: str, path: str = "/emulator/v1/overrides"):
    """A request as it reaches the handler from a client at `remote`."""
    transport = mock.Mock()
    transport.get_extra_info.side_effect = lambda name, default=None: (
        (remote, 40000) if name == "peername" else default)
    return make_mocked_request("GET", path, headers={"Host": "127.0.0.1", **FLAVOR},
                               transport=transport)


@pytest.mark.parametrize(("reach", "remote", "allowed"), [
    ("loopback", "127.0.0.1", True), ("loopback", "::1", True),
    ("loopback", "::ffff:127.0.0.1", True), ("loopback", "172.18.0.5", False),
    ("loopback", "169.254.169.1", False), ("network", "172.18.0.5", True),
    ("off", "127.0.0.1", False),
])
async def test_the_control_api_is_loopback_only_unless_opened(make_client, reach, remote,
                                                              allowed):
    _, emulator = await make_client(EXAMPLE.read_text() + f"  admin: {reach}\n")
    response = await emulator.handler(request_from(remote))
    assert (response.status == 200) is allowed
    if not allowed:
        assert f"emulator.admin: {reach}" in response.text
    # tokens stay served to any client, as the real server serves its VM
    token = await emulator.handler(request_from(remote, V1 + "instance/service-accounts/"
                                                "default/token"))
    assert token.status == 200 and b"access_token" in token.body


async def test_a_change_that_no_longer_fits_a_reload_is_dropped(make_client, tmp_path, caplog):
    client, emulator = await make_client(EXAMPLE.read_text().replace(
        "  name: dev-vm\n", "  name: dev-vm\n  custom: {a: '1'}\n"), watch=False)
    await client.put(ADMIN + "instance/custom/a", data="2")
    await client.put(ADMIN + "instance/attributes/kept", data="yes")
    (tmp_path / "config.yaml").write_text(EXAMPLE.read_text().replace(
        "  name: dev-vm\n", "  name: dev-vm\n  custom: now a value\n"))
    assert await emulator.reload()
    assert await value(client, "instance/custom") == (200, b"now a value")
    assert await value(client, "instance/attributes/kept") == (200, b"yes")
    assert "dropped the run-time change of instance/custom/a" in caplog.text
