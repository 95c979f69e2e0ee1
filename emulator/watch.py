"""Watching the config file for edits.

On Linux, inotify on the file's directory: an edit is seen when the writer closes the file or
renames a new one over it (editors, `kubectl` ConfigMap swaps), so a file still being written
is never read, and the reload starts within milliseconds. Elsewhere, or when inotify cannot be
had, the file's identity is polled and read once it has stopped changing for SETTLE seconds.
A slow poll runs beside inotify as a safety net (a directory replaced under the watch).
"""

from __future__ import annotations

import asyncio
import ctypes
import ctypes.util
import logging
import os
import struct
import sys
from collections.abc import Awaitable, Callable
from pathlib import Path

from .files import signature

log = logging.getLogger("gce_metadata_emulator")
POLL = 0.25  # seconds between polls without inotify
SAFETY_POLL = 2.0  # seconds between polls beside inotify
SETTLE = 0.1  # polling: a file is read once unchanged for this long
QUIET = 0.005  # inotify: events in a burst (a rename, then an attribute change) are one edit
# inotify(7): a writer closed the file; a file was renamed into or out of the directory;
# created or deleted (a symlink swapped).
IN_CLOSE_WRITE, IN_MOVED_FROM, IN_MOVED_TO, IN_CREATE, IN_DELETE = 0x8, 0x40, 0x80, 0x100, 0x200
MASK = IN_CLOSE_WRITE | IN_MOVED_FROM | IN_MOVED_TO | IN_CREATE | IN_DELETE
EVENT = struct.Struct("iIII")


class Inotify:
    """A non-blocking inotify descriptor watching one directory."""

    def __init__(self, directory: Path) -> None:
        libc = ctypes.CDLL(ctypes.util.find_library("c"), use_errno=True)
        self.fd = libc.inotify_init1(os.O_NONBLOCK | os.O_CLOEXEC)
        if self.fd < 0:
            raise OSError(ctypes.get_errno(), "inotify_init1 failed")
        if libc.inotify_add_watch(self.fd, os.fsencode(directory), MASK) < 0:
            error = ctypes.get_errno()
            os.close(self.fd)
            raise OSError(error, f"inotify_add_watch {directory} failed")

    def drain(self) -> int:
        """Read what is queued; the number of events."""
        count = 0
        while True:
            try:
                data = os.read(self.fd, 65536)
            except BlockingIOError:
                return count
            offset = 0
            while offset + EVENT.size <= len(data):
                _, _, _, length = EVENT.unpack_from(data, offset)
                offset += EVENT.size + length
                count += 1

    def close(self) -> None:
        os.close(self.fd)


def inotify_for(path: Path) -> Inotify | None:
    if not sys.platform.startswith("linux"):
        return None
    try:
        return Inotify(path.resolve().parent)
    except (OSError, AttributeError) as exc:
        log.info("file-system notifications unavailable (%s); polling %s", exc, path)
        return None


async def watch(path: Path, on_change: Callable[[], Awaitable[object]],
                notify: bool = True) -> None:
    """Call `on_change` after every edit of `path`, forever; nothing it raises ends the watch."""
    seen = signature(path)
    inotify = inotify_for(path) if notify else None
    woken = asyncio.Event()
    loop = asyncio.get_running_loop()
    if inotify is not None:
        loop.add_reader(inotify.fd, lambda: inotify.drain() and woken.set())
    try:
        while True:
            interval = SAFETY_POLL if inotify is not None else POLL
            try:
                await asyncio.wait_for(woken.wait(), interval)
                woken.clear()
                await quiet(woken)  # the rest of the burst
            except TimeoutError:
                pass
            try:
                now = signature(path)
                if now is None or now == seen:
                    continue
                seen = now if inotify is not None else await settled(path, now)
                if seen is not None:
                    await on_change()
            except asyncio.CancelledError:
                raise
            except Exception:
                log.exception("config watch: unexpected error; still watching %s", path)
    finally:
        if inotify is not None:
            loop.remove_reader(inotify.fd)
            inotify.close()


async def quiet(woken: asyncio.Event) -> None:
    """Wait until no event has come for QUIET seconds."""
    while True:
        try:
            await asyncio.wait_for(woken.wait(), QUIET)
            woken.clear()
        except TimeoutError:
            return


async def settled(path: Path, now: tuple[int, int, int] | None) -> tuple[int, int, int] | None:
    """Polling: the file's signature once it has stayed the same for SETTLE seconds."""
    while True:
        await asyncio.sleep(SETTLE)
        later = signature(path)
        if later == now:
            return now
        now = later
