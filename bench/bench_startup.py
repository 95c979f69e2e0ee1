"""Start-up and memory as a user meets them: the launch of `gce-metadata-emulator` (installed
with `pip install .`, so byte-compiled and without the editable-install hook) to the first 200
on `/`, and the resident memory once it serves; beside the same figures for a bare aiohttp
low-level server in the same virtual environment, the floor of our stack.

    python bench/bench_startup.py [--runs 10]

Targets: start-to-ready median at most 250 ms; idle RSS at most 40 MiB. The venv is kept in
bench/.venv-install between runs (the package itself is reinstalled each time).
"""

from __future__ import annotations

import argparse
import os
import re
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
VENV = ROOT / "bench" / ".venv-install"


def install() -> Path:
    python = VENV / "bin" / "python"
    quiet = {"stdout": subprocess.DEVNULL, "check": True}
    if not python.exists():
        print(f"creating {VENV} with the package and its dependencies (once)...", flush=True)
        subprocess.run([sys.executable, "-m", "venv", str(VENV)], **quiet)
        subprocess.run([str(python), "-m", "pip", "install", "-q", str(ROOT)], **quiet)
    else:
        subprocess.run([str(python), "-m", "pip", "install", "-q", "--no-deps",
                        "--force-reinstall", str(ROOT)], **quiet)
    return python


def start_to_ready(argv: list[str], env: dict[str, str]) -> tuple[float, float]:
    """(ms from launch to the first 200 on /, RSS in MiB right then)."""
    started = time.perf_counter()
    proc = subprocess.Popen(argv, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True,
                            env=env)
    try:
        match = re.search(r"(?:serving http://|bare app on )([0-9.]+):([0-9]+)",
                          proc.stdout.readline())
        address = (match.group(1), int(match.group(2)))
        while True:
            try:
                with socket.create_connection(address, timeout=2) as sock:
                    sock.sendall(b"GET / HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n\r\n")
                    if sock.recv(64).startswith(b"HTTP/1.1 200"):
                        break
            except OSError:
                time.sleep(0.001)
        elapsed = (time.perf_counter() - started) * 1000
        status = Path(f"/proc/{proc.pid}/status").read_text()
        rss = int(re.search(r"VmRSS:\s+(\d+)", status).group(1)) / 1024
        return elapsed, rss
    finally:
        proc.terminate()
        proc.wait(10)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--runs", type=int, default=10)
    args = parser.parse_args()
    python = install()
    env = {k: v for k, v in os.environ.items()
           if not k.startswith(("GCE_", "GOOGLE_", "CLOUDSDK_"))}
    with tempfile.TemporaryDirectory() as gcloud:
        env["CLOUDSDK_CONFIG"] = gcloud  # no ADC: local tokens, the embedded default config
        servers = {
            "gce-metadata-emulator": [str(VENV / "bin" / "gce-metadata-emulator"), "--port",
                                      "0", "--log-level", "warning"],
            "bare aiohttp low-level": [str(python), str(ROOT / "bench" / "bare_app.py"),
                                       "--raw"],
        }
        print(f"{args.runs} starts each, alternating; launch to the first 200 on /")
        results: dict[str, list[tuple[float, float]]] = {name: [] for name in servers}
        for _ in range(args.runs):
            for name, argv in servers.items():
                results[name].append(start_to_ready(argv, env))
    print(f"{'':26} {'median ms':>10} {'min ms':>7} {'RSS MiB':>8}")
    for name, runs in results.items():
        times = [r[0] for r in runs]
        print(f"{name:26} {statistics.median(times):10.0f} {min(times):7.0f} "
              f"{statistics.median(r[1] for r in runs):8.1f}")
    ours = results["gce-metadata-emulator"]
    bare = results["bare aiohttp low-level"]
    start, rss = statistics.median(r[0] for r in ours), statistics.median(r[1] for r in ours)
    print(f"start-to-ready {start:.0f} ms (target <= 250) {'PASS' if start <= 250 else 'FAIL'}; "
          f"{start - statistics.median(r[0] for r in bare):+.0f} ms over the bare server")
    print(f"idle RSS {rss:.1f} MiB (target <= 40) {'PASS' if rss <= 40 else 'FAIL'}; "
          f"{rss - statistics.median(r[1] for r in bare):+.1f} MiB over the bare server")


if __name__ == "__main__":
    main()
