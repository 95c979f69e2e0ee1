"""Configs a careless user or an attacker writes: each is refused with one line naming file,
key path and problem, at start (exit 2) and at reload (the previous tree keeps being served and
the next valid edit is served). Every value YAML can produce is served or refused, never a 500.
"""

from __future__ import annotations

import asyncio
import logging
import threading
import time

import pytest

from gce_metadata_emulator.cli import main
from gce_metadata_emulator.config import ConfigError, parse
from gce_metadata_emulator.defaults import build_tree
from gce_metadata_emulator.tree import Snapshot, children, is_dir
from tests.conftest import EXAMPLE, FLAVOR

V1 = "/computeMetadata/v1/"


def bomb(levels: int = 9) -> str:
    lines = ['a0: &a0 ["lol", "lol", "lol", "lol", "lol", "lol", "lol", "lol", "lol"]']
    for i in range(1, levels + 1):
        lines.append(f"a{i}: &a{i} [" + ", ".join([f"*a{i - 1}"] * 9) + "]")
    return "instance:\n  laughs:\n" + "".join(f"    {line}\n" for line in lines)


HOSTILE = [
    # (config, key path named, problem named)
    ("project:\n  attributes: []\n", "project.attributes", "expected a mapping"),
    ("instance:\n  attributes: 5\n", "instance.attributes", "expected a mapping"),
    ("instance:\n  huge: " + "9" * 5000 + "\n", "", "quote it"),
    ("instance:\n  big: " + "9" * 4000 + "\n", "instance.big", "beyond 64 bits"),
    ("instance:\n  deep: " + "[" * 5000 + "]" * 5000 + "\n", "", "levels deep"),
    ("instance:\n  deep: " + "[" * 40 + "]" * 40 + "\n", "instance.deep", "levels deep"),
    ("instance:\n  blob: !!binary aGVsbG8=\n", "instance.blob", "!!binary"),
    ("instance:\n  things: !!set {a, b}\n", "instance.things", "!!set"),
    ("instance:\n  pairs: !!omap [{a: 1}]\n", "instance.pairs", "!!omap"),
    ("project:\n  attributes:\n    k: .nan\n", "project.attributes.k", "nan"),
    ("instance:\n  mixed: [{a: 1}, b]\n", "instance.mixed", "not both"),
    ("instance:\n  nested: [[1, 2]]\n", "instance.nested", "list of lists"),
    ("instance:\n  scheduling:\n    a/b: x\n", "instance.scheduling.a/b", "without '/'"),
    ("instance:\n  attributes:\n    '': x\n", "instance.attributes.", "non-empty name"),
    ("instance:\n  guest-attributes: {a: {b: c}}\n", "instance.guest-attributes", "written by"),
    ("instance:\n  1: x\n", "instance.1", "keys must be text"),
    ("emulator:\n  token-lifetime: " + "9" * 5000 + "s\n", "emulator.token-lifetime",
     "duration like 3600s"),
    ("instance:\n  id: '" + "9" * 5000 + "'\n", "instance.id", "whole number"),
    ("project:\n  numeric-project-id: '²'\n", "project.numeric-project-id", "whole number"),
    (bomb(), "", "alias bomb"),
]


@pytest.mark.parametrize(("text", "key", "problem"), HOSTILE)
def test_hostile_configs_are_refused_with_the_key_path(text, key, problem):
    with pytest.raises(ConfigError) as caught:
        parse(text, "my.yaml", environ={})
    message = str(caught.value)
    assert message.startswith(f"my.yaml: {key}") and problem in message, message
    assert "\n" not in message


@pytest.mark.parametrize(("text", "key", "problem"), HOSTILE)
def test_hostile_configs_exit_2_with_one_line_at_start(text, key, problem, tmp_path, capsys):
    path = tmp_path / "my.yaml"
    path.write_text(text)
    assert main(["serve", "--config", str(path), "--port", "0"]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and problem in err and str(path) in err, err


def test_an_alias_bomb_is_refused_quickly():
    done: list[BaseException] = []

    def load() -> None:
        try:
            parse(bomb(12), "bomb.yaml", environ={})
        except ConfigError as exc:
            done.append(exc)

    worker = threading.Thread(target=load, daemon=True)
    worker.start()
    worker.join(10)  # 9**12 strings if expanded: a hang, not a slow answer
    assert done and "alias bomb" in str(done[0])


def every_path(node, prefix: str = "") -> list[str]:
    paths = []
    for name, value in children(node):
        if is_dir(value):
            paths.append(prefix + name + "/")
            paths.extend(every_path(value, prefix + name + "/"))
        else:
            paths.append(prefix + name)
    return paths


YAML_VALUES = """
instance:
  attributes:
    a-date: 2024-05-01
    a-time: 2001-12-14t21:59:43.10-05:00
    a-float: 1.5
    an-int: 7
    a-bool: yes
    a-null:
    multi: |
      line one
      line two
  stamped: !!timestamp 2024-05-01T10:00:00Z
  counts: [1, -2, 18446744073709551615]
  floats: [0.5, 1e3]
  empty-list: []
  empty-dir: {}
  inf: .inf
project:
  attributes:
"""


def test_every_value_yaml_gives_is_served_as_text():
    with pytest.raises(ConfigError, match=r"instance\.inf"):
        parse(YAML_VALUES, "v.yaml", environ={})
    snap = Snapshot(build_tree(parse(YAML_VALUES.replace("  inf: .inf\n", ""), "v.yaml",
                                     environ={})))

    def value(path: str) -> bytes:
        return snap.render(V1 + path, False, None).body

    assert value("instance/attributes/a-date") == b"2024-05-01"
    assert value("instance/attributes/a-time") == b"2001-12-14t21:59:43.10-05:00"
    assert value("instance/attributes/a-float") == b"1.5"
    assert value("instance/attributes/a-bool") == b"TRUE"
    assert value("instance/attributes/a-null") == b""
    assert value("instance/attributes/multi") == b"line one\nline two\n"
    assert value("instance/stamped") == b"2024-05-01T10:00:00+00:00"
    assert value("instance/counts") == b"1\n-2\n18446744073709551615\n"
    assert value("project/attributes/") == b""
    # Every path, listing, recursive JSON and alt=text renders
    for path in every_path(snap.root):
        for recursive, alt in ((False, None), (True, None), (True, "text"), (False, "json")):
            if path.endswith("/") != (recursive or alt is None):
                continue
            rendered = snap.render("/" + path, recursive, alt)
            assert rendered is not None and rendered.status in (200, 301), path


async def wait_for(client, path: str, body: bytes, seconds: float = 5.0) -> None:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        resp = await client.get(V1 + path, headers=FLAVOR)
        if await resp.read() == body:
            return
        await asyncio.sleep(0.05)
    raise AssertionError(f"{path} never became {body!r}")


async def test_reload_survives_every_hostile_edit(make_client, tmp_path, caplog):
    client, emulator = await make_client(watch=False)  # reloads only when the test says
    path = tmp_path / "config.yaml"
    good = EXAMPLE.read_text()
    served = b"dev-vm"
    for i, (text, _key, problem) in enumerate(HOSTILE):
        caplog.clear()
        with caplog.at_level(logging.ERROR, logger="gce_metadata_emulator"):
            path.write_text(text)
            await emulator.reload()
        errors = [r for r in caplog.records if r.levelno >= logging.ERROR]
        assert len(errors) == 1, [r.getMessage() for r in errors]
        message = errors[0].getMessage()
        assert str(path) in message and problem in message and errors[0].exc_info is None
        assert "\n" not in message
        await wait_for(client, "instance/name", served, 0.1)  # still the previous tree
        served = f"vm-{i}".encode()
        path.write_text(good.replace("name: dev-vm", f"name: vm-{i}"))
        assert await emulator.reload()
        await wait_for(client, "instance/name", served, 0.1)


async def test_the_watch_outlives_a_bad_edit_and_serves_the_next(make_client, tmp_path):
    client, _ = await make_client()
    path = tmp_path / "config.yaml"
    path.write_text("project:\n  attributes:\n")  # empty attributes: valid, an empty directory
    await wait_for(client, "project/attributes/", b"")
    path.write_text("project:\n  attributes: []\n")
    await asyncio.sleep(0.6)
    await wait_for(client, "project/attributes/", b"", 0.1)
    path.write_text(EXAMPLE.read_text().replace("name: dev-vm", "name: after-bad"))
    await wait_for(client, "instance/name", b"after-bad")


@pytest.mark.parametrize("notify", [True, False], ids=["inotify", "polling"])
async def test_a_half_written_file_is_never_served(make_client, tmp_path, monkeypatch, notify):
    if not notify:
        monkeypatch.setattr("gce_metadata_emulator.watch.inotify_for", lambda path: None)
    client, _ = await make_client()
    path = tmp_path / "config.yaml"
    full = EXAMPLE.read_text().replace("name: dev-vm", "name: whole-file")
    seen: set[bytes] = set()

    async def watch() -> None:
        while True:
            resp = await client.get(V1 + "instance/name", headers=FLAVOR)
            seen.add(await resp.read())
            await asyncio.sleep(0.01)

    watcher = asyncio.create_task(watch())
    try:
        with path.open("w") as writer:  # one writer, in steps, 50 ms apart for 600 ms
            writer.write("instance:\n  name: half-written\n")  # valid YAML on its own
            for _ in range(12):
                writer.flush()
                await asyncio.sleep(0.05)
                writer.write("\n")
            writer.seek(0)
            writer.truncate()
            writer.write(full)
        await wait_for(client, "instance/name", b"whole-file")
    finally:
        watcher.cancel()
    assert b"half-written" not in seen
