"""The command line as a user meets it: exit codes, messages, the banner, env-init, SIGTERM."""

from __future__ import annotations

import json
import subprocess
import sys
import urllib.error
import urllib.request

import pytest

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
        "export GCE_METADATA_ROOT=127.0.0.1:9999", "export GCE_METADATA_MTLS_MODE=none",
        "export METADATA_SERVER_DETECTION=assume-present"]


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


def test_version_and_top_level_help():
    from gce_metadata_emulator import __version__

    done = cli("--version")
    assert done.returncode == 0 and done.stdout.strip() == f"gce-metadata-emulator {__version__}"
    done = cli("--help")
    assert done.returncode == 0
    for word in ("serve", "env-init", "doctor", "health", "--port", "--config", "--host",
                 "--project", "--service-account", "--log-level", "--loop", "--version"):
        assert word in done.stdout, word


def test_unknown_flags_and_commands_name_the_valid_ones():
    done = cli("--frobnicate")
    assert done.returncode == 2 and done.stderr.count("\n") == 1
    assert "unknown flag '--frobnicate' for serve" in done.stderr
    assert "--config, --help, --host, --link-local, --log-level, --loop, --port" in done.stderr
    assert "did you mean --port?" in cli("--prot", "9000").stderr
    assert "did you mean --project?" in cli("doctor", "--port", "1").stderr
    done = cli("sever")
    assert done.returncode == 2 and "unknown command 'sever' (did you mean serve?)" in done.stderr


def test_a_bad_flag_value_is_blamed_on_the_flag(tmp_path):
    done = cli("--project", "X", "--port", "0")
    assert done.returncode == 2
    assert done.stderr.startswith("gce-metadata-emulator: --project: 'X' is not a project id")
    assert "embedded" not in done.stderr
    done = cli("--service-account", "nobody", "--port", "0")
    assert done.stderr.startswith("gce-metadata-emulator: --service-account: 'nobody' is not")
    done = cli("env-init", env=clean_env(GOOGLE_CLOUD_PROJECT="Bad"))
    assert done.stderr.startswith("gce-metadata-emulator: $GOOGLE_CLOUD_PROJECT: 'Bad' is not")


def test_a_host_that_cannot_be_bound_names_host():
    done = cli("--host", "203.0.113.7", "--port", "0")  # TEST-NET-3: on no interface here
    assert done.returncode == 1
    assert "--host 203.0.113.7 is not an address of this machine" in done.stderr
    assert "--port" not in done.stderr
    done = cli("--host", "no-such-host.invalid", "--port", "0")
    assert done.returncode == 1 and "--host 'no-such-host.invalid' is not a name" in done.stderr


def test_env_init_refuses_port_0():
    done = cli("env-init", "--port", "0")
    assert done.returncode == 2 and "--port 0 picks one only when serving" in done.stderr
    assert done.stdout == ""


def test_health_command(start_emulator):
    emulator = start_emulator()
    host, port = emulator.address.split(":")
    assert cli("health", "--host", host, "--port", port).returncode == 0
    assert cli("health", env=clean_env(GCE_METADATA_EMULATOR_HOST=host,
                                       GCE_METADATA_EMULATOR_PORT=port)).returncode == 0
    emulator.stop()
    done = cli("health", "--host", host, "--port", port)
    assert done.returncode == 1 and "no emulator answers" in done.stderr


@pytest.mark.parametrize(("config", "adc", "code", "said"), [
    ("", False, 0, "local: no Application Default Credentials on this machine; that needs "
     "nothing. For real tokens: `gcloud auth application-default login`"),
    ("emulator:\n  credentials: local\n", True, 0,
     "local, as the config asks; this needs nothing"),
    ("emulator:\n  credentials: auto\n", True, 0,
     "local: ADC found but no service account to impersonate"),
    ("emulator:\n  credentials: impersonate\nservice-accounts: [a@b.iam.gserviceaccount.com]\n",
     False, 1, "FAIL"),
])
def test_doctor_speaks_for_the_mode_serve_would_use(tmp_path, config, adc, code, said):
    path = tmp_path / "c.yaml"
    path.write_text("project: {project-id: acme-dev}\n" + config)
    env = clean_env()
    if adc:
        (tmp_path / "adc.json").write_text(json.dumps({
            "type": "authorized_user", "client_id": "x", "client_secret": "y",
            "refresh_token": "z"}))
        env["GOOGLE_APPLICATION_CREDENTIALS"] = str(tmp_path / "adc.json")
    done = cli("doctor", "--config", str(path), env=env)
    assert done.returncode == code, done.stdout + done.stderr
    assert said in done.stdout
    if "credentials: local" in config:
        assert "set emulator.credentials" not in done.stdout  # what the config already says
    assert "real: impersonated" not in done.stdout  # no ADC that serve would use here


def test_doctor_sample_in_readme_is_what_it_prints():
    done = cli("doctor")
    readme = (ROOT / "README.md").read_text()
    for line in done.stdout.splitlines():
        assert line in readme, line
