"""Soak: minutes of mixed load on one emulator, printing its RSS every 10 s and the p99 of each
10-second round; then the same load without new audiences, as the baseline of the p99.

The mix, per 100 requests: 35 leaf, 20 `instance/?recursive=true`, 25 cached token,
10 identity (a new audience each time in the soak; one audience in the baseline), 10
guest-attribute writes over 200 keys.

    python bench/bench_soak.py [--minutes 3] [--baseline-minutes 1] [--connections 64]

Targets: RSS at the end at most 15 MiB above RSS after the first 10 s; soak p99 within 1.5x
of the baseline's. Needs wrk (apt-get install wrk): a scripted mix is what it does well.
"""

from __future__ import annotations

import shutil
import statistics
import subprocess
import tempfile
from pathlib import Path

from common import ROOT, arguments, emulator

ROUND = 10  # seconds: one RSS reading and one p99 a round

SCRIPT = """
local counter = 0
local identity = "/computeMetadata/v1/instance/service-accounts/default/identity?audience="
wrk.headers["Metadata-Flavor"] = "Google"
math.randomseed(os.time() + math.floor(os.clock() * 1000000))
request = function()
  counter = counter + 1
  local pick = counter % 100
  if pick < 35 then
    return wrk.format("GET", "/computeMetadata/v1/project/project-id")
  elseif pick < 55 then
    return wrk.format("GET", "/computeMetadata/v1/instance/?recursive=true")
  elseif pick < 80 then
    return wrk.format("GET", "/computeMetadata/v1/instance/service-accounts/default/token")
  elseif pick < 90 then
    if NEW_AUDIENCES then
      return wrk.format("GET", identity .. "https://svc-" .. math.random(1, 2000000000)
                        .. "-" .. counter .. ".a.run.app")
    end
    return wrk.format("GET", identity .. "https://svc-fixed.a.run.app")
  end
  return wrk.format("PUT", "/computeMetadata/v1/instance/guest-attributes/soak/key-"
                    .. (counter % 200), nil, "value-" .. counter)
end
"""


def round_p99(url: str, script: Path, connections: int) -> tuple[float, float, int]:
    """One round of wrk: (requests/s, p99 ms, non-2xx responses)."""
    out = subprocess.run(["wrk", "-t1", f"-c{connections}", f"-d{ROUND}s", "--latency",
                          "-s", str(script), url], capture_output=True, text=True,
                         check=True).stdout
    rps = float(out.split("Requests/sec:")[1].split()[0])
    line = next(line for line in out.splitlines() if line.strip().startswith("99%"))
    number = line.split()[1]
    unit = number.lstrip("0123456789.")
    p99 = float(number[:-len(unit)]) * {"us": 0.001, "ms": 1.0, "s": 1000.0}[unit]
    errors = out.split("Non-2xx or 3xx responses:")[1].split()[0] if "Non-2xx" in out else "0"
    return rps, p99, int(errors)


def soak(name: str, minutes: float, new_audiences: bool, connections: int,
         folder: Path) -> tuple[list[float], list[float]]:
    script = folder / f"{name}.lua"
    script.write_text(f"NEW_AUDIENCES = {'true' if new_audiences else 'false'}\n" + SCRIPT)
    emu = emulator("--config", str(ROOT / "config" / "example.yaml"))
    rss: list[float] = []
    p99s: list[float] = []
    try:
        print(f"\n{name}: {minutes:g} min, {connections} connections, wrk (1 thread); RSS "
              "after each 10 s round")
        print(f"  {'t (s)':>6} {'RSS MiB':>8} {'req/s':>8} {'p99 ms':>7} {'non-2xx':>8}")
        print(f"  {0:>6} {emu.rss_kib() / 1024:8.1f}")
        for i in range(max(1, int(minutes * 60 / ROUND))):
            rps, p99, errors = round_p99(emu.url + "/", script, connections)
            rss.append(emu.rss_kib() / 1024)
            p99s.append(p99)
            print(f"  {(i + 1) * ROUND:>6} {rss[-1]:8.1f} {rps:8.0f} {p99:7.2f} {errors:>8}")
    finally:
        emu.stop()
    return rss, p99s


def main() -> None:
    parser = arguments(__doc__)
    parser.add_argument("--minutes", type=float, default=3.0)
    parser.add_argument("--baseline-minutes", type=float, default=1.0)
    args = parser.parse_args()
    if not shutil.which("wrk"):
        raise SystemExit("bench_soak.py needs wrk: apt-get install wrk")
    with tempfile.TemporaryDirectory() as tmp:
        rss, p99s = soak("soak (10% identity with a new audience each)", args.minutes, True,
                         args.connections, Path(tmp))
        _, base = soak("baseline (the same mix, one audience)", args.baseline_minutes, False,
                       args.connections, Path(tmp))
    growth = rss[-1] - rss[0]
    ratio = statistics.median(p99s) / statistics.median(base)
    print(f"\nRSS growth after the first 10 s: {rss[0]:.1f} -> {rss[-1]:.1f} MiB = "
          f"{growth:+.1f} MiB (target <= 15 MiB) {'PASS' if growth <= 15 else 'FAIL'}")
    print(f"p99 (median of rounds): soak {statistics.median(p99s):.2f} ms, baseline "
          f"{statistics.median(base):.2f} ms, ratio {ratio:.2f} (target <= 1.5) "
          f"{'PASS' if ratio <= 1.5 else 'FAIL'}")


if __name__ == "__main__":
    main()
