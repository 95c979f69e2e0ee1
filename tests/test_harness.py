"""The test harness as its users meet it: the CLI verbs against a served emulator, the pytest
plugin (in this environment and in a fresh one), and the inspector page in a real browser."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import urllib.request

import pytest

from tests.conftest import CLI, EXAMPLE, FLAVOR, ROOT, clean_env

TOKEN = "/computeMetadata/v1/instance/service-accounts/default/token"
EXAMPLE_TESTS = ROOT / "examples" / "pytest" / "test_with_gce_metadata.py"
NODE = ROOT / "tests" / "node"


def get(emulator, path: str) -> tuple[int, str]:
    request = urllib.request.Request(emulator.url + path, headers=FLAVOR)
    try:
        with urllib.request.urlopen(request, timeout=10) as resp:
            return resp.status, resp.read().decode()
    except urllib.error.HTTPError as exc:
        return exc.code, exc.read().decode()


def verb(emulator, *args: str) -> subprocess.CompletedProcess:
    """A verb with --url left to GCE_METADATA_HOST, as a shell set up by env-init has it."""
    return subprocess.run([*CLI, *args], capture_output=True, text=True, timeout=30,
                          env=clean_env(GCE_METADATA_HOST=emulator.address))


def test_cli_verbs_drive_a_served_emulator(start_emulator):
    emulator = start_emulator("--config", str(EXAMPLE))
    assert verb(emulator, "set", "instance/attributes/role", "db").returncode == 0
    assert get(emulator, "/computeMetadata/v1/instance/attributes/role") == (200, "db")
    assert verb(emulator, "set", "/computeMetadata/v1/instance/tags", '["a","b"]',
                "--json").returncode == 0
    assert get(emulator, "/computeMetadata/v1/instance/tags?alt=json")[1] == '["a","b"]'
    assert verb(emulator, "delete", "instance/attributes/role").returncode == 0
    assert get(emulator, "/computeMetadata/v1/instance/attributes/role")[0] == 404
    done = verb(emulator, "fault", "token", "--status", "503", "--count", "1")
    assert done.returncode == 0 and json.loads(done.stdout)["remaining"] == 1
    assert json.loads(verb(emulator, "fault", "list").stdout)[0]["kind"] == "token"
    assert get(emulator, TOKEN)[0] == 503 and get(emulator, TOKEN)[0] == 200
    verb(emulator, "fault", "tree", "--duration", "30s")
    assert get(emulator, "/computeMetadata/v1/project/project-id")[0] == 503
    assert verb(emulator, "fault", "clear").stdout == "faults cleared\n"
    done = verb(emulator, "trigger", "maintenance", "--kind", "terminate", "--duration", "60s")
    assert json.loads(done.stdout)["event"] == "TERMINATE_ON_HOST_MAINTENANCE"
    assert get(emulator, "/computeMetadata/v1/instance/maintenance-event")[1] == \
        "TERMINATE_ON_HOST_MAINTENANCE"
    log = verb(emulator, "log", "--limit", "3").stdout.splitlines()
    assert len(log) == 3 and "/computeMetadata/v1/instance/maintenance-event 200" in log[-1]
    entries = [json.loads(x) for x in verb(emulator, "log", "--json").stdout.splitlines()]
    statuses = [e["status"] for e in entries if e["path"] == TOKEN]
    assert statuses == [503, 200]
    assert verb(emulator, "reset").returncode == 0
    assert verb(emulator, "log").stdout == ""
    assert get(emulator, "/computeMetadata/v1/instance/maintenance-event")[1] == "NONE"
    done = subprocess.run([*CLI, "reset", "--url", "127.0.0.1:9"], capture_output=True,
                          text=True, timeout=30, env=clean_env())
    assert done.returncode == 1 and "no emulator answers at http://127.0.0.1:9" in done.stderr


def test_log_follow_prints_requests_as_they_come(start_emulator):
    emulator = start_emulator()
    follow = subprocess.Popen([*CLI, "log", "--follow", "--url", emulator.address],
                              stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                              env=clean_env())
    try:
        for _ in range(50):  # until the stream is open: a request then shows up
            get(emulator, "/computeMetadata/v1/project/project-id")
            line = follow.stdout.readline()
            if line:
                break
        assert "/computeMetadata/v1/project/project-id 200" in line
    finally:
        follow.terminate()
        follow.wait(10)


def test_the_plugin_runs_the_readme_example_here():
    done = subprocess.run([sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider",
                           str(EXAMPLE_TESTS)], capture_output=True, text=True, timeout=120,
                          env=clean_env(), cwd=EXAMPLE_TESTS.parent)
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-2000:]
    assert "3 passed" in done.stdout


PLUGIN_CASES = '''
import os
import sys

import pytest

@pytest.fixture(scope="module")
def saved():
    return {k: os.environ.get(k) for k in ("GCE_METADATA_HOST", "GCE_METADATA_IP")}

def test_before(saved):
    assert saved["GCE_METADATA_HOST"] == "elsewhere:1"

@pytest.mark.gce_metadata(config="project: {project-id: from-yaml-text}\\n")
def test_yaml_text(gce_metadata):
    import google.auth
    assert google.auth.default()[1] == "from-yaml-text"
    assert os.environ["GCE_METADATA_IP"] == gce_metadata.host
    assert os.environ["METADATA_SERVER_DETECTION"] == "assume-present"

@pytest.mark.parametrize("gce_metadata", [{"emulator": {"profile": "gke"}}], indirect=True)
def test_indirect_parameter(gce_metadata):
    assert gce_metadata.call("GET", "accounts")["profile"] == "gke"

def test_after(saved):
    assert os.environ["GCE_METADATA_HOST"] == "elsewhere:1"
    module = sys.modules["google.auth.compute_engine._metadata"]
    assert module._GCE_METADATA_HOST == "elsewhere:1"  # google-auth's copy is restored

def test_session_wide(gce_metadata_session):
    gce_metadata_session.set("instance/attributes/a", "1")
    assert gce_metadata_session.override("instance/attributes/a")["value"] == "1"
'''


def test_the_plugin_restores_what_it_changed(tmp_path):
    (tmp_path / "test_cases.py").write_text(
        "import google.auth.compute_engine._metadata  # imported before any fixture\n"
        + PLUGIN_CASES)
    done = subprocess.run([sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider",
                           "-p", "no:randomly", "test_cases.py"], capture_output=True,
                          text=True, timeout=120, cwd=tmp_path,
                          env=clean_env(GCE_METADATA_HOST="elsewhere:1",
                                        GCE_METADATA_IP="elsewhere:1"))
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-2000:]
    assert "5 passed" in done.stdout


@pytest.mark.skipif(os.environ.get("GME_SKIP_FRESH_VENV") == "1",
                    reason="GME_SKIP_FRESH_VENV=1")
def test_a_fresh_virtual_environment_runs_the_example(tmp_path):
    """What a user does: a new venv, the package and pytest, the README's example test."""
    venv = tmp_path / "venv"
    subprocess.run([sys.executable, "-m", "venv", str(venv)], check=True, timeout=120)
    install = subprocess.run([str(venv / "bin" / "pip"), "install", "-q", str(ROOT), "pytest",
                              "requests"], capture_output=True, text=True, timeout=600,
                             env=clean_env(PIP_DISABLE_PIP_VERSION_CHECK="1"))
    assert install.returncode == 0, install.stderr[-3000:]
    shutil.copy(EXAMPLE_TESTS, tmp_path / EXAMPLE_TESTS.name)
    done = subprocess.run([str(venv / "bin" / "python"), "-m", "pytest", "-q", "-p",
                           "no:cacheprovider", EXAMPLE_TESTS.name], capture_output=True,
                          text=True, timeout=120, cwd=tmp_path, env=clean_env())
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-2000:]
    assert "3 passed" in done.stdout


def chromium() -> str | None:
    for name in ("chromium", "chromium-browser", "google-chrome"):
        if shutil.which(name):
            return shutil.which(name)
    return None


@pytest.mark.skipif(chromium() is None, reason="the inspector page test needs Chromium "
                    "(apt-get install chromium); .ci/run installs it")
def test_the_inspector_page_in_a_real_browser(start_emulator):
    if not (NODE / "node_modules" / "playwright-core").is_dir():
        pytest.fail("playwright-core is not installed: run `npm ci --prefix tests/node`")
    emulator = start_emulator("--config", str(EXAMPLE))
    done = subprocess.run(["node", str(NODE / "inspector.js"), emulator.url, chromium()],
                          capture_output=True, text=True, timeout=120, cwd=NODE,
                          env=clean_env())
    assert done.returncode == 0, done.stderr[-3000:]
    seen = json.loads(done.stdout)
    assert TOKEN in seen["rowText"] and "\t200\t" in seen["rowText"]
    assert "token app@acme-dev.iam.gserviceaccount.com" in seen["rowText"]
    assert seen["preempted"] == "preempted: TRUE"
    assert "app@acme-dev.iam.gserviceaccount.com\taccess token" in seen["accounts"]
    assert seen["tokenShown"] is False
    assert seen["errors"] == []
