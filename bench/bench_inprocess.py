"""In-process start, as the pytest fixture does it: an emulator on a thread of its own, from
the call to the first 200 on `/`, then stopped; against a bare aiohttp low-level server
started and stopped the same way, in the same run. Imports are paid once, before timing (a
test session pays them once too).

    python bench/bench_inprocess.py [--rounds 30]

Target: median start to ready at most 20 ms.
"""

from __future__ import annotations

import argparse
import asyncio
import statistics
import tempfile
import threading
import time
import urllib.request
from pathlib import Path

from aiohttp import web

from gce_metadata_emulator import config
from gce_metadata_emulator.background import Background
from gce_metadata_emulator.pytest_plugin import config_text

FLAVOR = {"Metadata-Flavor": "Google"}


def first_200(url: str) -> None:
    request = urllib.request.Request(url + "/", headers=FLAVOR)
    with urllib.request.urlopen(request, timeout=5) as resp:
        assert resp.status == 200


def emulator_round(folder: Path) -> float:
    path = folder / "config.yaml"
    path.write_text(config_text({"project": {"project-id": "bench-project"}}))
    environ = {"CLOUDSDK_CONFIG": str(folder / "none")}
    started = time.perf_counter()
    background = Background(lambda: config.load(path, environ=environ), environ).start()
    first_200(background.url)
    elapsed = time.perf_counter() - started
    background.stop()
    return elapsed


class BareServer:
    """aiohttp's low-level server answering a constant, on a thread, started like
    Background."""

    def __init__(self) -> None:
        self.loop = asyncio.new_event_loop()
        self.thread = threading.Thread(target=self.loop.run_forever, daemon=True)

    def start(self) -> str:
        self.thread.start()

        async def up() -> int:
            async def handler(request: web.BaseRequest) -> web.Response:
                return web.Response(body=b"computeMetadata/\n")

            self.runner = web.ServerRunner(web.Server(handler))
            await self.runner.setup()
            await web.TCPSite(self.runner, "127.0.0.1", 0).start()
            return self.runner.addresses[0][1]

        port = asyncio.run_coroutine_threadsafe(up(), self.loop).result(10)
        return f"http://127.0.0.1:{port}"

    def stop(self) -> None:
        asyncio.run_coroutine_threadsafe(self.runner.cleanup(), self.loop).result(10)
        self.loop.call_soon_threadsafe(self.loop.stop)
        self.thread.join(10)
        self.loop.close()


def bare_round() -> float:
    started = time.perf_counter()
    server = BareServer()
    first_200(server.start())
    elapsed = time.perf_counter() - started
    server.stop()
    return elapsed


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--rounds", type=int, default=30)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        emulator_round(Path(tmp))  # warm: imports, the first config parse
        bare_round()
        ours, bare = [], []
        for _ in range(args.rounds):  # alternating, so a drift of the machine touches both
            ours.append(emulator_round(Path(tmp)) * 1000)
            bare.append(bare_round() * 1000)
    m_ours, m_bare = statistics.median(ours), statistics.median(bare)
    print(f"in-process start to the first 200 on /, {args.rounds} rounds each, alternating")
    print(f"{'':28} {'median ms':>9} {'min ms':>7} {'max ms':>7}")
    print(f"{'gce_metadata (Background)':28} {m_ours:9.1f} {min(ours):7.1f} {max(ours):7.1f}")
    print(f"{'bare aiohttp on a thread':28} {m_bare:9.1f} {min(bare):7.1f} {max(bare):7.1f}")
    print(f"ratio {m_ours / m_bare:.2f}; start to ready {m_ours:.1f} ms (target <= 20) "
          + ("PASS" if m_ours <= 20 else "FAIL"))


if __name__ == "__main__":
    main()
