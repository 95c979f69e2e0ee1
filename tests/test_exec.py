"""`exec -- COMMAND`: an emulator for one command's lifetime. The command sees the variables,
gets a token from a real client library, and its exit status (or signal) becomes exec's."""

from __future__ import annotations

import signal
import subprocess
import sys
import time

from tests.conftest import CLI, EXAMPLE, ROOT, clean_env

VARIABLES = ("GCE_METADATA_HOST", "GCE_METADATA_IP", "GCE_METADATA_ROOT",
             "GCE_METADATA_MTLS_MODE", "METADATA_SERVER_DETECTION")


def exec_(*args: str, timeout: float = 60) -> subprocess.CompletedProcess:
    return subprocess.run([*CLI, "exec", *args], capture_output=True, text=True,
                          timeout=timeout, env=clean_env(), cwd=ROOT)


def test_the_command_sees_the_variables_and_gets_a_token():
    show = ";".join(f"print('{v}=' + os.environ['{v}'])" for v in VARIABLES)
    done = exec_("--config", str(EXAMPLE), "--", "sh", "-c",
                 f"{sys.executable} -c \"import os;{show}\" && "
                 f"{sys.executable} {ROOT / 'tests/clients/python_access_token.py'}")
    assert done.returncode == 0, done.stderr
    lines = done.stdout.splitlines()
    env = dict(line.split("=", 1) for line in lines[:5])
    host = env["GCE_METADATA_HOST"]
    assert host.startswith("127.0.0.1:") and int(host.split(":")[1]) > 0
    assert env == {"GCE_METADATA_HOST": host, "GCE_METADATA_IP": host,
                   "GCE_METADATA_ROOT": host, "GCE_METADATA_MTLS_MODE": "none",
                   "METADATA_SERVER_DETECTION": "assume-present"}
    assert lines[5].startswith("ya29.LOCAL-EMULATOR-TOKEN.")
    # warning level: the banner and info lines stay out of the way; stdout is the command's
    assert "serving http://" not in done.stdout + done.stderr
    assert " INFO " not in done.stderr


def test_the_exit_status_is_the_commands():
    assert exec_("--", sys.executable, "-c", "raise SystemExit(7)").returncode == 7
    assert exec_("--", "true").returncode == 0
    # ended by a signal: 128 + N, as a shell reports it
    assert exec_("--", "sh", "-c", "kill -TERM $$").returncode == 128 + signal.SIGTERM


def test_a_missing_command_is_127_and_a_missing_dash_dash_is_explained(tmp_path):
    done = exec_("--", str(tmp_path / "no-such-program"))
    assert done.returncode == 127 and "command not found" in done.stderr
    script = tmp_path / "script"
    script.write_text("#!/bin/sh\n")
    done = exec_("--", str(script))
    assert done.returncode == 126 and "not executable" in done.stderr
    done = exec_("true")
    assert done.returncode == 2
    assert "exec needs a command after `--`" in done.stderr and "Traceback" not in done.stderr


def test_sigterm_reaches_the_command_and_its_status_comes_back():
    child = ("import signal, sys, time\n"
             "signal.signal(signal.SIGTERM, lambda *a: sys.exit(42))\n"
             "print('ready', flush=True)\n"
             "time.sleep(60)\n")
    proc = subprocess.Popen([*CLI, "exec", "--", sys.executable, "-c", child],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                            env=clean_env(), cwd=ROOT)
    assert proc.stdout.readline() == "ready\n"
    started = time.monotonic()
    proc.send_signal(signal.SIGTERM)
    assert proc.wait(timeout=10) == 42
    assert time.monotonic() - started < 5


def test_a_bad_config_stops_before_the_command_runs(tmp_path):
    bad = tmp_path / "bad.yaml"
    bad.write_text("project: [\n")
    marker = tmp_path / "ran"
    done = exec_("--config", str(bad), "--", "touch", str(marker))
    assert done.returncode == 2 and str(bad) in done.stderr
    assert not marker.exists()
