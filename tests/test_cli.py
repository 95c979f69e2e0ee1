"""The command line as a user meets it: exit codes, messages, the banner, env-init, SIGTERM."""

from __future__ import annotations

import subprocess
import sys
import urllib.error
import urllib.request

from tests.conftest import CLI, ROOT, clean_env


def cli(*args: str, env=None) -> subprocess.CompletedProcess:
    return subprocess.run([*CLI, *args], capture_output=True,
                          text=True, timeout=30, cwd=ROOT, env=env or clean_env())


def test_bad_config_exits_2_with_one_message(tmp_path):
    bad = tmp_path / "bad.yaml"
    bad.write_text("instance:\n  zone: nowhere\n")
    done = cli("serve", "--config", str(bad), "--port", "0")
    assert done.returncode == 2
    assert done.stderr.strip().splitlines() == [
        f"gce-metadata-emulator: {bad}: instance.zone: 'nowhere' is not a zone name like "
        "us-central1-a"]
    assert "Traceback" not in done.stderr


def test_missing_config_and_bad_flags_exit_2(tmp_path):
    done = cli("--config", str(tmp_path / "nope.yaml"))
    assert done.returncode == 2 and "no such file" in done.stderr
    assert cli("--port", "http").returncode == 2
    assert cli("--frobnicate").returncode == 2


def test_env_init_prints_exports():
    done = cli("env-init", "--port", "9999")
    assert done.returncode == 0
    assert done.stdout.splitlines() == [
        "export GCE_METADATA_HOST=127.0.0.1:9999", "export GCE_METADATA_IP=127.0.0.1:9999",
        "export GCE_METADATA_ROOT=127.0.0.1:9999", "export GCE_METADATA_MTLS_MODE=none"]


def test_serves_embedded_default_and_exits_0_on_sigterm(start_emulator):
    emulator = start_emulator(env=clean_env(GOOGLE_CLOUD_PROJECT="from-env-1"))
    assert "GCE_METADATA_HOST=" + emulator.address in emulator.banner
    assert "GCE_METADATA_IP=" + emulator.address in emulator.banner
    assert "GCE_METADATA_ROOT=" + emulator.address in emulator.banner
    request = urllib.request.Request(emulator.url + "/computeMetadata/v1/project/project-id",
                                     headers={"Metadata-Flavor": "Google"})
    with urllib.request.urlopen(request, timeout=5) as resp:
        assert resp.read() == b"from-env-1"
    code, err = emulator.stop()
    assert code == 0, err
    assert "LOCAL TOKENS" in err and "Traceback" not in err


def test_port_in_use_is_a_clear_error(start_emulator):
    emulator = start_emulator()
    port = emulator.address.split(":")[1]
    done = cli("--port", port)
    assert done.returncode == 1
    assert f"cannot listen on 127.0.0.1:{port}" in done.stderr


def test_a_malformed_request_is_a_400_and_one_log_line(start_emulator):
    emulator = start_emulator()
    request = urllib.request.Request(emulator.url + "/computeMetadata/v1/" + "a" * 9000,
                                     headers={"Metadata-Flavor": "Google"})
    try:
        urllib.request.urlopen(request, timeout=5)
        raise AssertionError("a 9 KB request line was accepted")
    except urllib.error.HTTPError as exc:
        assert exc.code == 400
        assert exc.headers["Metadata-Flavor"] == "Google"
        assert exc.headers["Server"] == "Metadata Server for VM"
    code, err = emulator.stop()
    assert code == 0
    lines = [line for line in err.splitlines() if "malformed" in line]
    assert len(lines) == 1 and ("WARNING gce_metadata_emulator: malformed HTTP request from "
                                "127.0.0.1 answered with 400") in lines[0]
    assert "Traceback" not in err


def test_installed_under_a_name_that_cannot_collide(tmp_path):
    """An application with its own `emulator` module keeps it: the package is
    gce_metadata_emulator, and installing it adds no top-level `emulator`."""
    (tmp_path / "emulator.py").write_text("WHOSE = 'the application'\n")
    done = subprocess.run(
        [sys.executable, "-c", "import emulator, gce_metadata_emulator.cli; print(emulator.WHOSE)"],
        capture_output=True, text=True, timeout=30, cwd=tmp_path, env=clean_env())
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == "the application"
    elsewhere = subprocess.run([sys.executable, "-c", "import emulator"], capture_output=True,
                               text=True, timeout=30, cwd=ROOT.parent, env=clean_env())
    assert "No module named 'emulator'" in elsewhere.stderr
