"""A shell script run in a new network and mount namespace: its own loopback (brought up), no
route anywhere, and /etc/hosts bind-mounted from a temp file. There, 169.254.169.254 and
metadata.google.internal can only be what the test puts there; the machine's own network and
/etc/hosts are never touched."""

from __future__ import annotations

import functools
import shutil
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

from tests.conftest import ROOT, clean_env

BIN = Path(sys.executable).parent  # the environment running the tests: the CLI, the clients
HOSTS = "127.0.0.1 localhost\n::1 localhost ip6-localhost\n# a line the emulator must keep\n"
PREAMBLE = f"""set -u
ip link set lo up
mount --bind "$HOSTS_FILE" /etc/hosts
export PATH={BIN}:$PATH
# start_link_local ARGS...: the emulator at the real address, in the background ($EMU), ready
start_link_local() {{
  gce-metadata-emulator serve --link-local "$@" > "$WORK/emulator.out" 2>&1 &
  EMU=$!
  for _ in $(seq 100); do
    gce-metadata-emulator health --host 169.254.169.254 --port 80 2>/dev/null && return 0
    kill -0 $EMU 2>/dev/null || break
    sleep 0.1
  done
  echo "emulator did not start:"; cat "$WORK/emulator.out"; return 1
}}
# stop_emulator SIGNAL: stop it and print its exit status
stop_emulator() {{
  kill -"$1" $EMU; wait $EMU; echo "emulator exit: $?"
}}
# md HOST/PATH: a metadata request as a client sends it
md() {{ curl -s -H 'Metadata-Flavor: Google' "http://$1"; echo; }}
# fingerprint: of a token on stdin, as examples/app/samples.py prints one
fingerprint() {{
  python3 -c 'import hashlib, sys
print("sha256:" + hashlib.sha256(sys.stdin.read().strip().encode()).hexdigest()[:16])'
}}
addresses() {{ ip -4 -o addr show dev lo | awk '{{print $4}}' | sort | tr '\\n' ' '; echo; }}
"""


@functools.cache
def unavailable() -> str | None:
    """Why no namespace can be made here, or None."""
    if shutil.which("unshare") is None or shutil.which("ip") is None:
        return "needs util-linux's unshare and iproute2's ip"
    done = subprocess.run(["unshare", "--net", "--mount", "true"], capture_output=True,
                          text=True)
    if done.returncode != 0:
        return f"cannot make a network and mount namespace: {done.stderr.strip()}"
    return None


@dataclass
class Outcome:
    returncode: int
    stdout: str
    stderr: str
    hosts_after: str

    def line(self, prefix: str) -> str:
        found = [x for x in self.stdout.splitlines() if x.startswith(prefix)]
        assert found, f"no line starting {prefix!r} in:\n{self.stdout}\n{self.stderr}"
        return found[-1]


def run(script: str, tmp_path: Path, hosts: str = HOSTS, timeout: float = 120,
        **env: str) -> Outcome:
    """Run a bash script in the namespace; `$WORK` is tmp_path, `$EMU` the emulator's pid."""
    hosts_file = tmp_path / "hosts"
    hosts_file.write_text(hosts)
    done = subprocess.run(
        ["unshare", "--net", "--mount", "bash", "-c", PREAMBLE + script],
        capture_output=True, text=True, timeout=timeout, cwd=ROOT,
        env=clean_env(HOSTS_FILE=str(hosts_file), WORK=str(tmp_path), **env))
    return Outcome(done.returncode, done.stdout, done.stderr, hosts_file.read_text())
