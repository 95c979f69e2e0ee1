"""Soak: minutes of mixed load on one emulator, printing its RSS every 10 s and the p99 of each
10-second round; then the same load without new audiences, as the baseline.

The mix, per 100 requests: 35 leaf, 20 `instance/?recursive=true`, 25 cached token,
10 guest-attribute writes over 200 keys (one wrk, "others"), and 10 identity requests (a
second wrk at the same time), with a new audience each time in the soak and one audience in
the baseline. The load is paced at a steady rate (--rate in all, the same in both runs) as a
sidecar sees it; a saturating load would measure lost throughput instead.

    python bench/bench_soak.py [--minutes 3] [--baseline-minutes 1] [--rate 2000]
                               [--connections 64]

Targets: RSS at the end at most 15 MiB above RSS after the first 10 s; p99 within 1.5x of the
baseline's. Both p99s are printed: of the other requests (does a stream of new audiences slow
everyone down?) and of the identity requests (each new audience costs one RSA signature,
which no cache can save). Needs wrk (apt-get install wrk).
"""

from __future__ import annotations

import shutil
import statistics
import subprocess
import tempfile
from dataclasses import dataclass
from pathlib import Path

from common import ROOT, arguments, emulator

ROUND = 10  # seconds: one RSS reading and one p99 a round
PACE = """
math.randomseed(os.time() + math.floor(os.clock() * 1000000))
wrk.headers["Metadata-Flavor"] = "Google"
-- each connection waits a random time around the mean: arrivals spread, not in bursts
delay = function() return math.random(0, 2 * DELAY_MS) end
local counter = 0
"""
OTHERS = PACE + """
request = function()
  counter = counter + 1
  local pick = counter % 90
  if pick < 35 then
    return wrk.format("GET", "/computeMetadata/v1/project/project-id")
  elseif pick < 55 then
    return wrk.format("GET", "/computeMetadata/v1/instance/?recursive=true")
  elseif pick < 80 then
    return wrk.format("GET", "/computeMetadata/v1/instance/service-accounts/default/token")
  end
  return wrk.format("PUT", "/computeMetadata/v1/instance/guest-attributes/soak/key-"
                    .. (counter % 200), nil, "value-" .. counter)
end
"""
IDENTITY = PACE + """
local identity = "/computeMetadata/v1/instance/service-accounts/default/identity?audience="
request = function()
  counter = counter + 1
  if NEW_AUDIENCES then
    return wrk.format("GET", identity .. "https://svc-" .. math.random(1, 2000000000) .. "-"
                      .. counter .. ".a.run.app")
  end
  return wrk.format("GET", identity .. "https://svc-fixed.a.run.app")
end
"""


@dataclass
class Round:
    rps: float
    p99_ms: float
    errors: int


def start_wrk(url: str, script: Path, connections: int) -> subprocess.Popen:
    return subprocess.Popen(["wrk", "-t1", f"-c{connections}", f"-d{ROUND}s", "--latency",
                             "-s", str(script), url], stdout=subprocess.PIPE, text=True)


def result(proc: subprocess.Popen) -> Round:
    out = proc.communicate()[0]
    rps = float(out.split("Requests/sec:")[1].split()[0])
    number = next(line for line in out.splitlines() if line.strip().startswith("99%")).split()[1]
    unit = number.lstrip("0123456789.")
    p99 = float(number[:-len(unit)]) * {"us": 0.001, "ms": 1.0, "s": 1000.0}[unit]
    errors = out.split("Non-2xx or 3xx responses:")[1].split()[0] if "Non-2xx" in out else "0"
    return Round(rps, p99, int(errors))


def script(folder: Path, name: str, body: str, rate: float, connections: int,
           new_audiences: bool) -> Path:
    path = folder / f"{name}.lua"
    path.write_text(f"NEW_AUDIENCES = {'true' if new_audiences else 'false'}\n"
                    f"DELAY_MS = {max(1, round(connections * 1000 / rate))}\n" + body)
    return path


def soak(name: str, minutes: float, new_audiences: bool, connections: int, rate: int,
         folder: Path) -> tuple[list[float], list[Round], list[Round]]:
    others = script(folder, f"others-{new_audiences}", OTHERS, rate * 0.9, connections,
                    new_audiences)
    ids = script(folder, f"identity-{new_audiences}", IDENTITY, rate * 0.1,
                 max(1, connections // 8), new_audiences)
    emu = emulator("--config", str(ROOT / "config" / "example.yaml"))
    rss: list[float] = []
    rounds: list[Round] = []
    id_rounds: list[Round] = []
    try:
        print(f"\n{name}: {minutes:g} min at about {rate} req/s, wrk (1 thread each); RSS after "
              "each 10 s round")
        print(f"  {'t (s)':>6} {'RSS MiB':>8} {'others/s':>9} {'p99 ms':>7} {'ids/s':>6} "
              f"{'p99 ms':>7} {'non-2xx':>8}")
        print(f"  {0:>6} {emu.rss_kib() / 1024:8.1f}")
        for i in range(max(1, int(minutes * 60 / ROUND))):
            a, b = start_wrk(emu.url + "/", others, connections), \
                start_wrk(emu.url + "/", ids, max(1, connections // 8))
            rounds.append(result(a))
            id_rounds.append(result(b))
            rss.append(emu.rss_kib() / 1024)
            print(f"  {(i + 1) * ROUND:>6} {rss[-1]:8.1f} {rounds[-1].rps:9.0f} "
                  f"{rounds[-1].p99_ms:7.2f} {id_rounds[-1].rps:6.0f} {id_rounds[-1].p99_ms:7.2f}"
                  f" {rounds[-1].errors + id_rounds[-1].errors:>8}")
    finally:
        emu.stop()
    return rss, rounds, id_rounds


def p99(rounds: list[Round]) -> float:
    return statistics.median(r.p99_ms for r in rounds)


def main() -> None:
    parser = arguments(__doc__)
    parser.add_argument("--minutes", type=float, default=3.0)
    parser.add_argument("--baseline-minutes", type=float, default=1.0)
    parser.add_argument("--rate", type=int, default=2000, help="requests a second, paced")
    args = parser.parse_args()
    if not shutil.which("wrk"):
        raise SystemExit("bench_soak.py needs wrk: apt-get install wrk")
    with tempfile.TemporaryDirectory() as tmp:
        rss, others, ids = soak("soak (identity requests: a new audience each)", args.minutes,
                                True, args.connections, args.rate, Path(tmp))
        _, base, base_ids = soak("baseline (identity requests: one audience)",
                                 args.baseline_minutes, False, args.connections, args.rate,
                                 Path(tmp))
    growth = rss[-1] - rss[0]
    ratio = p99(others) / p99(base)
    print(f"\nRSS growth after the first 10 s: {rss[0]:.1f} -> {rss[-1]:.1f} MiB = "
          f"{growth:+.1f} MiB (target <= 15 MiB) {'PASS' if growth <= 15 else 'FAIL'}")
    print(f"p99 of the other requests (median of rounds): soak {p99(others):.2f} ms, baseline "
          f"{p99(base):.2f} ms, ratio {ratio:.2f} (target <= 1.5) "
          f"{'PASS' if ratio <= 1.5 else 'FAIL'}")
    print(f"p99 of the identity requests: soak {p99(ids):.2f} ms (each mints: one RSA "
          f"signature), baseline {p99(base_ids):.2f} ms (cached), ratio "
          f"{p99(ids) / p99(base_ids):.2f}")


if __name__ == "__main__":
    main()
