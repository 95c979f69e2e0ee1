"""Shared pieces of the benchmarks: starting servers as separate processes on loopback, the
load generator (wrk when installed, else a bounded aiohttp client), memory readings."""

from __future__ import annotations

import argparse
import asyncio
import os
import re
import shutil
import statistics
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path

import aiohttp

ROOT = Path(__file__).resolve().parent.parent
FLAVOR = {"Metadata-Flavor": "Google"}


class Server:
    """A server in its own process; its first stdout line names its address."""

    def __init__(self, argv: list[str], pattern: str, env: dict[str, str] | None = None) -> None:
        self.proc = subprocess.Popen(argv, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL,
                                     text=True, cwd=ROOT, env=env)
        line = self.proc.stdout.readline()
        match = re.search(pattern, line)
        if not match:
            self.proc.kill()
            raise SystemExit(f"server did not start: {argv}: {line!r}")
        self.address = match.group(1)
        self.url = f"http://{self.address}"

    def rss_kib(self) -> int:
        for line in Path(f"/proc/{self.proc.pid}/status").read_text().splitlines():
            if line.startswith("VmRSS:"):
                return int(line.split()[1])
        return 0

    def cpu_seconds(self) -> float:
        """User plus system CPU time the server has used so far."""
        fields = Path(f"/proc/{self.proc.pid}/stat").read_text().rsplit(")", 1)[1].split()
        return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")

    def stop(self) -> None:
        self.proc.terminate()
        try:
            self.proc.wait(10)
        except subprocess.TimeoutExpired:
            self.proc.kill()


def arguments(doc: str) -> argparse.ArgumentParser:
    """The options every benchmark has: how long a round lasts, how many connections."""
    parser = argparse.ArgumentParser(description=doc.split("\n")[0])
    parser.add_argument("--seconds", type=int, default=5, help="length of a round")
    parser.add_argument("--connections", type=int, default=64, help="concurrent connections")
    return parser


def emulator(*args: str, env: dict[str, str] | None = None) -> Server:
    clean = {k: v for k, v in os.environ.items() if not k.startswith(("GCE_", "GOOGLE_"))}
    return Server([sys.executable, "-m", "gce_metadata_emulator", *args, "--host", "127.0.0.1",
                   "--port", "0", "--log-level", "warning"],
                  r"serving http://([0-9.]+:[0-9]+)/", {**clean, **(env or {})})


def bare_app(bodies_file: Path, raw: bool = False) -> Server:
    return Server([sys.executable, str(ROOT / "bench" / "bare_app.py"), str(bodies_file),
                   *(["--raw"] if raw else [])], r"bare app on ([0-9.]+:[0-9]+)")


def median_of(url: str, seconds: int, connections: int, rounds: int = 3) -> Load:
    """Each figure the median of a few rounds, so one noisy round (a slow round, a tail spike
    on a shared machine) moves no figure, for the baselines and the emulator alike."""
    runs = [load(url, seconds, connections) for _ in range(rounds)]
    return Load(statistics.median(r.rps for r in runs),
                statistics.median(r.p50_ms for r in runs),
                statistics.median(r.p99_ms for r in runs), sum(r.errors for r in runs))


def compare(paths: list[str], targets: dict[str, str], emu: Server, bodies_file: Path,
            seconds: int, connections: int) -> None:
    """For each path: the bare aiohttp app (the baseline of the targets), the bare low-level
    server (for reference) and the emulator, each measured with the same load generator."""
    bare, raw = bare_app(bodies_file), bare_app(bodies_file, raw=True)
    try:
        print(f"load generator: {generator_name()}, {connections} connections, {seconds} s a "
              "round; each figure the median of 3 rounds")
        print(f"{'':48} {'server':>12} {'req/s':>9} {'p50 ms':>7} {'p99 ms':>7}")
        for path in paths:
            base = median_of(bare.url + path, seconds, connections)
            low = median_of(raw.url + path, seconds, connections)
            ours = median_of(emu.url + path, seconds, connections)
            for name, run in (("bare app", base), ("bare low-lvl", low), ("emulator", ours)):
                print(f"{path:48} {name:>12} {run.rps:9.0f} {run.p50_ms:7.2f} {run.p99_ms:7.2f}"
                      + (f"  ({run.errors} errors)" if run.errors else ""))
            throughput, p99 = ours.rps / base.rps, ours.p99_ms / base.p99_ms
            target = targets.get(path)
            if target == "throughput+p99":
                verdict = "throughput >= 0.80, p99 <= 1.25: " + (
                    "PASS" if throughput >= 0.8 and p99 <= 1.25 else "FAIL")
            elif target == "throughput":
                verdict = "throughput >= 0.80: " + ("PASS" if throughput >= 0.8 else "FAIL")
            else:
                verdict = "(no target)"
            print(f"{'':48} {'ratio to app':>12} {throughput:9.2f} {'':7} {p99:7.2f}  {verdict}")
    finally:
        bare.stop()
        raw.stop()


@dataclass
class Load:
    rps: float
    p50_ms: float
    p99_ms: float
    errors: int


def load(url: str, seconds: float, connections: int) -> Load:
    """One load generator for every target in a run: wrk if installed (one thread, so the
    server under test keeps the other core), else an aiohttp client in this process."""
    if shutil.which("wrk"):
        return wrk(url, seconds, connections)
    return asyncio.run(aiohttp_load(url, seconds, connections))


def wrk(url: str, seconds: float, connections: int) -> Load:
    out = subprocess.run(
        ["wrk", "-t1", f"-c{connections}", f"-d{int(seconds)}s", "--latency",
         "-H", "Metadata-Flavor: Google", url],
        capture_output=True, text=True, check=True).stdout

    def latency(label: str) -> float:
        number, unit = re.search(rf"^\s*{label}\s+([0-9.]+)(us|ms|s)\s*$", out, re.M).groups()
        return float(number) * {"us": 0.001, "ms": 1.0, "s": 1000.0}[unit]

    rps = float(re.search(r"Requests/sec:\s+([0-9.]+)", out).group(1))
    errors = re.search(r"Non-2xx or 3xx responses: (\d+)", out)
    return Load(rps, latency("50%"), latency("99%"), int(errors.group(1)) if errors else 0)


async def aiohttp_load(url: str, seconds: float, connections: int) -> Load:
    latencies: list[float] = []
    errors = 0
    deadline = time.monotonic() + seconds
    connector = aiohttp.TCPConnector(limit=connections)
    async with aiohttp.ClientSession(connector=connector) as session:
        async def worker() -> None:
            nonlocal errors
            while time.monotonic() < deadline:
                started = time.perf_counter()
                async with session.get(url, headers=FLAVOR) as resp:
                    await resp.read()
                    errors += resp.status != 200
                latencies.append(time.perf_counter() - started)
        await asyncio.gather(*(worker() for _ in range(connections)))
    latencies.sort()
    return Load(len(latencies) / seconds, statistics.median(latencies) * 1000,
                latencies[int(len(latencies) * 0.99)] * 1000, errors)


def generator_name() -> str:
    return "wrk (1 thread)" if shutil.which("wrk") else "aiohttp client (install wrk for a " \
        "load generator that is not the bottleneck)"
