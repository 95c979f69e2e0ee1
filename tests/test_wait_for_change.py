"""wait_for_change: woken by the change itself, answered with the new value and its ETag."""

from __future__ import annotations

import asyncio
import time

import aiohttp

from tests.conftest import EXAMPLE, FLAVOR

V1 = "/computeMetadata/v1"
ROLE = V1 + "/instance/attributes/role"


async def current_etag(client, path: str) -> str:
    resp = await client.get(path, headers=FLAVOR)
    return resp.headers["ETag"]


async def test_hangs_until_the_value_changes(client):
    etag = await current_etag(client, ROLE)
    waiter = asyncio.ensure_future(client.get(f"{ROLE}?wait_for_change=true&last_etag={etag}",
                                              headers=FLAVOR))
    await asyncio.sleep(0.3)
    assert not waiter.done()
    await client.put("/emulator/v1/metadata/instance/attributes/role", data="db")
    resp = await asyncio.wait_for(waiter, 2)
    assert (resp.status, await resp.read()) == (200, b"db")
    assert resp.headers["ETag"] != etag


async def test_without_last_etag_waits_for_the_next_change(client):
    waiter = asyncio.ensure_future(client.get(f"{ROLE}?wait_for_change=true", headers=FLAVOR))
    await asyncio.sleep(0.2)
    assert not waiter.done()
    await client.put("/emulator/v1/metadata/instance/attributes/role", data="db")
    assert await (await asyncio.wait_for(waiter, 2)).read() == b"db"


async def test_stale_last_etag_answers_at_once(client):
    resp = await asyncio.wait_for(
        client.get(f"{ROLE}?wait_for_change=true&last_etag=0000000000000000", headers=FLAVOR), 1)
    assert await resp.read() == b"web"


async def test_timeout_sec_answers_the_current_value(client):
    etag = await current_etag(client, ROLE)
    started = time.monotonic()
    resp = await client.get(f"{ROLE}?wait_for_change=true&last_etag={etag}&timeout_sec=1",
                            headers=FLAVOR)
    assert (resp.status, await resp.read()) == (200, b"web")
    assert resp.headers["ETag"] == etag
    assert 0.9 <= time.monotonic() - started < 3


async def test_a_change_elsewhere_does_not_answer(client):
    etag = await current_etag(client, V1 + "/project/project-id")
    started = time.monotonic()
    waiter = asyncio.ensure_future(client.get(
        f"{V1}/project/project-id?wait_for_change=true&last_etag={etag}&timeout_sec=2",
        headers=FLAVOR))
    await asyncio.sleep(0.2)
    await client.put("/emulator/v1/metadata/instance/attributes/role", data="db")
    resp = await waiter
    assert await resp.read() == b"acme-dev"
    assert time.monotonic() - started >= 1.8


async def test_recursive_directory_wakes_on_a_change_below(client):
    path = V1 + "/instance/?recursive=true"
    etag = await current_etag(client, path)
    waiter = asyncio.ensure_future(client.get(
        f"{path}&wait_for_change=true&last_etag={etag}", headers=FLAVOR))
    await asyncio.sleep(0.2)
    assert not waiter.done()
    await client.put("/emulator/v1/metadata/instance/maintenance-event",
                     data="TERMINATE_ON_HOST_MAINTENANCE")
    resp = await asyncio.wait_for(waiter, 2)
    doc = await resp.json()
    assert doc["maintenanceEvent"] == "TERMINATE_ON_HOST_MAINTENANCE"
    assert resp.headers["ETag"] != etag


async def test_config_file_edit_wakes_a_watcher(make_client, tmp_path):
    client, _ = await make_client()
    etag = await current_etag(client, ROLE)
    waiter = asyncio.ensure_future(client.get(f"{ROLE}?wait_for_change=true&last_etag={etag}",
                                              headers=FLAVOR))
    await asyncio.sleep(0.3)
    path = tmp_path / "config.yaml"
    path.write_text(EXAMPLE.read_text().replace("role: web", "role: worker"))
    resp = await asyncio.wait_for(waiter, 5)
    assert await resp.read() == b"worker"
    assert resp.headers["ETag"] != etag


async def test_an_invalid_edit_keeps_the_old_tree(make_client, tmp_path, caplog):
    client, _ = await make_client()
    (tmp_path / "config.yaml").write_text("instance:\n  zone: [not, a, zone]\n")
    await asyncio.sleep(1.0)
    resp = await client.get(ROLE, headers=FLAVOR)
    assert await resp.read() == b"web"
    assert "instance.zone" in caplog.text and "still serving the previous config" in caplog.text


async def test_real_process_watcher_sees_a_config_edit(start_emulator, example_config):
    """The issue's scenario end to end: the CLI-started server, a client hanging on a value,
    the config file edited on disk."""
    emulator = start_emulator("--config", str(example_config))
    url = emulator.url + ROLE
    async with aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=20)) as session:
        async with session.get(url, headers=FLAVOR) as resp:
            etag = resp.headers["ETag"]
        waiter = asyncio.ensure_future(session.get(
            f"{url}?wait_for_change=true&last_etag={etag}", headers=FLAVOR))
        await asyncio.sleep(0.5)
        assert not waiter.done()
        example_config.write_text(example_config.read_text().replace("role: web", "role: api"))
        resp = await asyncio.wait_for(waiter, 10)
        assert await resp.read() == b"api"
        assert resp.headers["ETag"] != etag


async def test_a_client_that_gives_up_frees_its_watcher(start_emulator, example_config):
    emulator = start_emulator("--config", str(example_config))
    url = f"{emulator.url}{ROLE}?wait_for_change=true"
    stats = emulator.url + "/emulator/v1/stats"
    async with aiohttp.ClientSession() as session:
        waiters = [asyncio.ensure_future(session.get(url, headers=FLAVOR)) for _ in range(20)]
        for _ in range(50):
            async with session.get(stats) as resp:
                if (await resp.json())["watchers"] == 20:
                    break
            await asyncio.sleep(0.05)
        else:
            raise AssertionError("the watchers never all hung")
        for waiter in waiters:
            waiter.cancel()
        await asyncio.gather(*waiters, return_exceptions=True)
    async with aiohttp.ClientSession() as session:
        for _ in range(50):
            async with session.get(stats) as resp:
                if (await resp.json())["watchers"] == 0:
                    return
            await asyncio.sleep(0.05)
    raise AssertionError("watchers of clients that went away are still hanging")
