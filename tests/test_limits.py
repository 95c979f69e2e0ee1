"""Bounded whatever clients ask: the token cache, guest attributes, admin values, query values,
request bodies, idle and half-sent connections, and running out of file descriptors."""

from __future__ import annotations

import asyncio
import gzip
import re
import resource
import socket
import subprocess
import sys
import time
from pathlib import Path

import pytest

from gce_metadata_emulator.credentials.cache import Token, TokenCache
from gce_metadata_emulator.server import GUEST_KEYS_LIMIT
from gce_metadata_emulator.store import Store
from tests.conftest import CLI, EXAMPLE, FLAVOR, ROOT, clean_env

V1 = "/computeMetadata/v1/"
GUEST = V1 + "instance/guest-attributes/"
IDENTITY = V1 + "instance/service-accounts/default/identity?audience="


async def test_the_token_cache_keeps_at_most_its_size(make_client):
    client, emulator = await make_client(EXAMPLE.read_text() + "  token-cache-size: 50\n")
    for i in range(300):  # every new audience would otherwise stay forever
        resp = await client.get(IDENTITY + f"https://svc-{i}.example/" + "x" * 2000,
                                headers=FLAVOR)
        assert resp.status == 200
    assert len(emulator.tokens.cache) == 50
    first = IDENTITY + "https://svc-299.example/" + "x" * 2000  # the most recent are kept
    before = emulator.tokens.cache.fetches
    assert (await client.get(first, headers=FLAVOR)).status == 200
    assert emulator.tokens.cache.fetches == before


async def test_expired_tokens_leave_the_cache():
    now = [1000.0]
    cache = TokenCache(margin=0, size=10, clock=lambda: now[0])

    async def mint(lifetime: float) -> Token:
        return Token("t", now[0] + lifetime)

    await cache.get("short", lambda: mint(100))
    await cache.get("long", lambda: mint(10000))
    now[0] += 200
    await cache.get("new", lambda: mint(10000))
    assert len(cache) == 2  # "short" expired and was dropped when "new" came in


async def test_least_recently_used_goes_first():
    cache = TokenCache(margin=0, size=2)

    async def mint() -> Token:
        return Token(f"t{cache.fetches}", time.time() + 3600)

    await cache.get("a", mint)
    await cache.get("b", mint)
    await cache.get("a", mint)  # a is used again: b is now the oldest
    await cache.get("c", mint)
    fetches = cache.fetches
    await cache.get("a", mint)
    assert cache.fetches == fetches  # a stayed
    await cache.get("b", mint)
    assert cache.fetches == fetches + 1  # b was evicted


async def test_guest_attributes_are_bounded(client):
    for i in range(GUEST_KEYS_LIMIT):
        resp = await client.put(GUEST + f"ns{i % 7}/key{i}", data="v", headers=FLAVOR)
        assert resp.status == 200, await resp.text()
    resp = await client.put(GUEST + "ns0/one-too-many", data="v", headers=FLAVOR)
    assert resp.status == 400 and "at most 1000 guest attributes" in await resp.text()
    resp = await client.put(GUEST + "ns0/key0", data="replaced", headers=FLAVOR)
    assert resp.status == 200  # replacing a key adds none
    assert (await client.delete(GUEST + "ns0/key0", headers=FLAVOR)).status == 200
    assert (await client.put(GUEST + "ns0/fits-now", data="v", headers=FLAVOR)).status == 200


async def test_guest_attribute_bytes_are_bounded(client):
    value = "x" * (100 * 1024)
    for i in range(110):
        resp = await client.put(GUEST + f"big/k{i}", data=value, headers=FLAVOR)
        if resp.status != 200:
            break
    assert resp.status == 413 and "total at most" in await resp.text()
    assert i == 102  # 102 values of 100 KiB fit in 10 MiB; the 103rd does not


def test_a_write_costs_its_path_not_the_number_of_earlier_writes():
    """Counted, not timed: a write copies only the directories on its path (a handful of
    dict entries each), so the 2,000th write touches as little as the 1st."""
    from gce_metadata_emulator import store as store_module
    from gce_metadata_emulator.config import parse
    from gce_metadata_emulator.defaults import build_tree

    store = Store(build_tree(parse(EXAMPLE.read_text(), "t", environ={})))
    copied: list[int] = []  # the size of each directory a write copies
    original = store_module.with_value

    def counting(node, names, value):
        copied.append(len(node))
        return original(node, names, value)

    store_module.with_value = counting
    try:
        costs = []
        for i in range(2000):
            copied.clear()
            store.set(f"instance/guest-attributes/ns{i % 20}/key{i}", "v")
            costs.append((len(copied), sum(copied)))
    finally:
        store_module.with_value = original
    # the directories on the path: /, computeMetadata, v1, instance, guest-attributes, nsN
    assert {depth for depth, _ in costs} == {6}
    # what grows is the two directories written into (20 namespaces, 100 keys in each), not
    # the 2,000 writes before
    assert costs[-1][1] - costs[0][1] <= 20 + 100


async def test_admin_values_are_bounded(client):
    admin = "/emulator/v1/metadata/project/attributes/"
    resp = await client.put(admin + "big", data="x" * (1024 * 1024 + 1))
    assert resp.status == 413
    deep = "[" * 100 + "]" * 100
    resp = await client.put(admin.replace("attributes/", "deep"), data=deep,
                            headers={"Content-Type": "application/json"})
    assert resp.status == 400 and "levels deep" in await resp.text()
    deeper = "[" * 100_000 + "]" * 100_000
    resp = await client.put(admin.replace("attributes/", "deep"), data=deeper,
                            headers={"Content-Type": "application/json"})
    assert resp.status == 400
    for constant in ("NaN", "Infinity", "-Infinity", "1e999"):
        resp = await client.put(admin.replace("attributes/", "n"), data=constant,
                                headers={"Content-Type": "application/json"})
        assert resp.status == 400, constant
    resp = await client.put(admin.replace("attributes/", "n"), data="9" * 5000,
                            headers={"Content-Type": "application/json"})
    assert resp.status == 400


async def test_query_values_never_answer_500(client):
    path = V1 + "instance/attributes/role"
    for timeout in ("١٢", "²", "9" * 5000, "3601", "-1", "1.5", "", "99999999999"):
        resp = await client.get(path + f"?wait_for_change=true&timeout_sec={timeout}",
                                headers=FLAVOR)
        assert resp.status == 400, timeout
        assert "timeout_sec" in await resp.text()
    resp = await client.get(path + "?wait_for_change=true&timeout_sec=0", headers=FLAVOR)
    assert resp.status == 200


async def test_a_body_that_does_not_match_its_encoding_is_a_400(client):
    for encoding in ("gzip", "deflate"):
        resp = await client.put(GUEST + "ns/key", data=b"plain, not compressed",
                                headers={**FLAVOR, "Content-Encoding": encoding})
        assert resp.status == 400, encoding
        assert "Content-Encoding" in await resp.text()
    resp = await client.put(GUEST + "ns/key", data=gzip.compress(b"compressed"),
                            headers={**FLAVOR, "Content-Encoding": "gzip"})
    assert resp.status == 200
    resp = await client.get(GUEST + "ns/key", headers=FLAVOR)
    assert await resp.read() == b"compressed"
    resp = await client.put("/emulator/v1/metadata/project/attributes/x", data=b"not gzip",
                            headers={"Content-Encoding": "gzip"})
    assert resp.status == 400


def raw_connection(client) -> socket.socket:
    sock = socket.create_connection((client.host, client.port), timeout=5)
    return sock


def closed_within(sock: socket.socket, seconds: float) -> bool:
    """True if the server closed the connection within `seconds`."""
    sock.settimeout(seconds)
    try:
        while True:
            data = sock.recv(65536)
            if not data:
                return True
    except TimeoutError:
        return False
    except ConnectionResetError:
        return True


LIMITS = "emulator:\n  credentials: local\n  idle-timeout: 1s\n  header-timeout: 1s\n"


async def test_idle_and_half_sent_connections_are_closed(make_client):
    client, _ = await make_client(LIMITS)
    idle = raw_connection(client)
    idle.sendall(b"GET / HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n")
    assert await asyncio.to_thread(closed_within, idle, 3)  # kept alive, then idle: closed
    silent = raw_connection(client)  # connected, never says anything
    assert await asyncio.to_thread(closed_within, silent, 3)
    half = raw_connection(client)
    half.sendall(b"GET /computeMetadata/v1/ HTTP/1.1\r\nHost: 127.0.0.1\r\n")  # no end
    started = time.monotonic()
    assert await asyncio.to_thread(closed_within, half, 3)
    assert time.monotonic() - started < 2.5

    def dribble() -> bool:
        """A slow client: one header byte every 200 ms, forever."""
        sock = raw_connection(client)
        sock.settimeout(0.2)
        request = b"GET /computeMetadata/v1/ HTTP/1.1\r\nHost: 127.0.0.1\r\nX-Slow: " + \
            b"a" * 100
        for byte in request:
            try:
                sock.sendall(bytes([byte]))
                if sock.recv(1) == b"":
                    return True
            except TimeoutError:
                continue
            except (BrokenPipeError, ConnectionResetError):
                return True
        return False

    assert await asyncio.to_thread(dribble)


async def test_a_hanging_wait_for_change_is_not_idle(make_client):
    client, _ = await make_client(LIMITS)
    started = time.monotonic()
    resp = await client.get(V1 + "project/project-id?wait_for_change=true&timeout_sec=3",
                            headers=FLAVOR)
    assert resp.status == 200 and time.monotonic() - started >= 2.9


@pytest.mark.parametrize("loop", ["asyncio", "uvloop"])
def test_running_out_of_descriptors_degrades_and_recovers(loop):
    def few_descriptors() -> None:
        resource.setrlimit(resource.RLIMIT_NOFILE, (64, 64))

    proc = subprocess.Popen([*CLI, "--host", "127.0.0.1", "--port", "0", "--loop", loop],
                            cwd=ROOT,
                            env=clean_env(), stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                            text=True, preexec_fn=few_descriptors)
    try:
        address = re.search(r"http://([0-9.]+):([0-9]+)/", proc.stdout.readline())
        host, port = address.group(1), int(address.group(2))
        clients = []
        for _ in range(100):  # more than the server has descriptors for
            try:
                clients.append(socket.create_connection((host, port), timeout=2))
            except OSError:
                break
        time.sleep(3)
        for sock in clients:
            sock.close()
        answered = False
        for _ in range(50):  # serving again as soon as descriptors free up
            try:
                with socket.create_connection((host, port), timeout=2) as sock:
                    sock.sendall(b"GET / HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close"
                                 b"\r\n\r\n")
                    if sock.recv(100).startswith(b"HTTP/1.1 200"):
                        answered = True
                        break
            except OSError:
                pass
            time.sleep(0.1)
        assert answered
    finally:
        proc.terminate()
        _, err = proc.communicate(timeout=10)
    complaints = [line for line in err.splitlines() if "out of file descriptors" in line]
    # asyncio's accept loop says so once every 5 s; libuv (uvloop) copes silently
    assert (1 if loop == "asyncio" else 0) <= len(complaints) <= 2, err[-2000:]
    assert "Traceback" not in err


def test_the_descriptor_limit_is_raised_to_the_hard_limit():
    def low_soft() -> None:
        resource.setrlimit(resource.RLIMIT_NOFILE, (256, 4096))

    proc = subprocess.Popen([*CLI, "--host", "127.0.0.1", "--port", "0"], cwd=ROOT,
                            env=clean_env(), stdout=subprocess.PIPE, stderr=subprocess.DEVNULL,
                            text=True, preexec_fn=low_soft)
    try:
        proc.stdout.readline()
        limits = Path(f"/proc/{proc.pid}/limits").read_text()
        soft = re.search(r"Max open files\s+(\d+)\s+(\d+)", limits)
        assert soft.groups() == ("4096", "4096")
    finally:
        proc.terminate()
        proc.wait(10)
    assert sys.platform.startswith("linux")
