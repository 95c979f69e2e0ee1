"""The README's compose demo against a real Docker engine: the project's image and the example
app built from a local Debian base image, the sidecar at 169.254.169.254:80 as
metadata.google.internal, and the documentation's samples passing in the app with no
GCE_METADATA_* variable."""

from __future__ import annotations

import json
import re
import shutil
import subprocess

import pytest

from tests import docker_engine
from tests.conftest import ROOT, clean_env

PROJECT = "gme-compose-test"


@pytest.fixture(scope="module")
def engine():
    if shutil.which("docker-compose") is None:
        pytest.skip("compose demo: docker-compose is not installed (apt-get install "
                    "docker-compose)")
    try:
        started = docker_engine.start()
    except docker_engine.Unavailable as exc:
        pytest.skip(f"compose demo: {exc}")
    yield started
    started.stop()


def compose(engine, *args: str, timeout: float = 900) -> subprocess.CompletedProcess:
    env = clean_env(**{k: v for k, v in engine.env.items() if k.startswith("DOCKER_")})
    env["BASE_IMAGE"] = engine.base
    return subprocess.run(["docker-compose", "-p", PROJECT, *args], cwd=ROOT, env=env,
                          capture_output=True, text=True, timeout=timeout)


def test_the_readme_demo_runs_the_documentation_samples_unchanged(engine):
    try:
        engine.base = docker_engine.base_image(engine)
    except docker_engine.Unavailable as exc:
        pytest.skip(f"compose demo: {exc}")
    try:
        done = compose(engine, "up", "--no-color", "--build", "--abort-on-container-exit",
                       "--exit-code-from", "app")
        output = done.stdout + done.stderr
        assert done.returncode == 0, output[-6000:]
        app_id = compose(engine, "ps", "-q", "app").stdout.strip()
        metadata_id = compose(engine, "ps", "-q", "metadata").stdout.strip()
        app, metadata = json.loads(engine.docker("inspect", app_id, metadata_id).stdout)
    finally:
        compose(engine, "down", "--remove-orphans", timeout=120)

    def line(prefix: str) -> str:
        found = re.search(rf"app[-_]1\s+\| ({re.escape(prefix)}[^\n]*)", output)
        assert found, f"no app line {prefix!r} in:\n{output[-4000:]}"
        return found.group(1)

    token = re.fullmatch(r"curl: access token (sha256:[0-9a-f]{16}), expires_in \d+, "
                         r"token_type Bearer", line("curl: ")).group(1)
    assert line("requests: ") == f"requests: access token {token}"
    assert line("google.auth.default: ") == (
        "google.auth.default: project acme-dev, google.auth.compute_engine.credentials."
        f"Credentials, access token {token}, account app@acme-dev.iam.gserviceaccount.com")
    assert line("fetch_id_token: ").startswith(
        "fetch_id_token: aud https://example.run.app, email app@acme-dev.iam.gserviceaccount.com")
    assert line("all samples") == "all samples passed"
    # The sidecar: port 80 through the variable (its health check followed it, or the app
    # would never have started), a non-root user, and a banner naming the real address.
    assert re.search(r"metadata[-_]1\s+\| gce-metadata-emulator serving "
                     r"http://127\.0\.0\.1:80/computeMetadata/v1/ \(project acme-dev.*"
                     r"also reached at 169\.254\.169\.254:80", output), output[-4000:]
    assert metadata["Config"]["User"] == "emulator"
    network = metadata["NetworkSettings"]["Networks"][f"{PROJECT}_metadata"]
    assert network["IPAMConfig"]["IPv4Address"] == "169.254.169.254"
    assert "metadata.google.internal" in network["Aliases"]
    assert not [v for v in app["Config"]["Env"] if v.startswith(("GCE_METADATA", "METADATA_"))]
