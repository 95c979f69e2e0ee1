"""What a platform profile costs: a leaf and a cached token under each profile, against the
gce profile (the baseline, no rewriting) measured in the same run with the same load
generator, plus the server's CPU time per request (steadier than throughput on a shared
machine).

    python bench/bench_profiles.py [--seconds 5] [--connections 64]

The three servers run side by side and take turns for 5 rounds of --seconds each.

Target: each profile within 0.90 of gce's throughput, or its CPU per request within 1.10 of
gce's (a profile rewrites the Server header of each answer).
"""

from __future__ import annotations

import statistics

from common import arguments, emulator, load

PATHS = ["/computeMetadata/v1/project/project-id",
         "/computeMetadata/v1/instance/service-accounts/default/token"]


PROFILES = ("gce", "gke", "cloud-run")


def measure(path: str, seconds: int, connections: int,
            rounds: int = 5) -> dict[str, tuple[float, float]]:
    """{profile: (median req/s, server CPU µs per request)}: the three servers run side by
    side and take turns, round after round, so a drift of the machine's load touches all."""
    servers = {name: emulator("--profile", name) for name in PROFILES}
    try:
        for server in servers.values():
            load(server.url + path, 1, connections)  # warm: the token is cached after this
        rps: dict[str, list[float]] = {name: [] for name in PROFILES}
        cpu: dict[str, float] = dict.fromkeys(PROFILES, 0.0)
        done: dict[str, float] = dict.fromkeys(PROFILES, 0.0)
        for _ in range(rounds):
            for name, server in servers.items():
                before = server.cpu_seconds()
                run = load(server.url + path, seconds, connections)
                cpu[name] += server.cpu_seconds() - before
                rps[name].append(run.rps)
                done[name] += run.rps * seconds
        return {name: (statistics.median(rps[name]), cpu[name] / done[name] * 1e6)
                for name in PROFILES}
    finally:
        for server in servers.values():
            server.stop()


def main() -> None:
    args = arguments(__doc__).parse_args()
    print(f"{'path':62} {'profile':>10} {'req/s':>9} {'CPU µs':>7} {'ratio':>6} {'cpu':>6}")
    verdicts = []
    for path in PATHS:
        figures = measure(path, args.seconds, args.connections)
        base_rps, base_cpu = figures["gce"]
        print(f"{path:62} {'gce':>10} {base_rps:9.0f} {base_cpu:7.1f}")
        for profile in PROFILES[1:]:
            rps, cpu = figures[profile]
            ratio, cpu_ratio = rps / base_rps, cpu / base_cpu
            ok = ratio >= 0.90 or cpu_ratio <= 1.10
            verdicts.append(ok)
            print(f"{path:62} {profile:>10} {rps:9.0f} {cpu:7.1f} {ratio:6.2f} {cpu_ratio:6.2f}"
                  f"  {'PASS' if ok else 'FAIL'}")
    print("throughput >= 0.90 of gce, or CPU per request <= 1.10 of gce: "
          + ("PASS" if all(verdicts) else "FAIL"))


if __name__ == "__main__":
    main()
