"""The Dockerfile and compose file as they are read, without a Docker engine (test_compose.py
runs them for real): the image's command and health check as processes with the image's
environment, and what the compose file promises the app."""

from __future__ import annotations

import json
import re
import shutil
import socket
import subprocess

import pytest
import yaml

from gce_metadata_emulator import config
from gce_metadata_emulator.serving import also_at
from gce_metadata_emulator.serving import banner as banner_of
from tests.conftest import CLI, EXAMPLE, ROOT, clean_env

DOCKERFILE = (ROOT / "Dockerfile").read_text()
COMPOSE = yaml.safe_load((ROOT / "docker-compose.yml").read_text())


def instruction(name: str) -> list[str]:
    """An exec-form instruction; HEALTHCHECK's is the CMD on its continuation line."""
    pattern = r"^HEALTHCHECK [^\n]*\\\n\s*CMD" if name == "HEALTHCHECK" else rf"^{name}"
    match = re.search(pattern + r"\s+(\[.*\])\s*$", DOCKERFILE, re.M)
    assert match, f"no exec-form {name} in the Dockerfile"
    return json.loads(match.group(1))


def image_env() -> dict[str, str]:
    block = re.search(r"^ENV ((?:.*\\\n)*.*)$", DOCKERFILE, re.M).group(1)
    return dict(pair.split("=", 1) for pair in block.replace("\\\n", " ").split()
                if "=" in pair and not pair.startswith("PATH="))


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def run_image(env: dict[str, str], *command: str) -> subprocess.Popen:
    assert instruction("ENTRYPOINT") == ["gce-metadata-emulator"]
    return subprocess.Popen([*CLI, *command], env=env, stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True, cwd=ROOT)


def health(env: dict[str, str]) -> int:
    check = instruction("HEALTHCHECK")
    assert check == ["gce-metadata-emulator", "health"]
    return subprocess.run([*CLI, *check[1:]], env=env, capture_output=True,
                          timeout=10).returncode


def test_the_health_check_follows_the_port_served():
    """The image's CMD with the image's ENV, on another port through the variable (as the
    compose file does): the health check passes there, and fails where nothing serves."""
    env = image_env()
    assert env["GCE_METADATA_EMULATOR_HOST"] == "0.0.0.0"
    assert env["GCE_METADATA_EMULATOR_PORT"] == "8080"
    port = str(free_port())
    served = clean_env(**{**env, "GCE_METADATA_EMULATOR_HOST": "127.0.0.1",
                          "GCE_METADATA_EMULATOR_PORT": port})
    proc = run_image(served, *instruction("CMD"))
    try:
        assert f"serving http://127.0.0.1:{port}/" in proc.stdout.readline()
        assert health(served) == 0
        assert health({**served, "GCE_METADATA_EMULATOR_PORT": str(free_port())}) == 1
    finally:
        proc.terminate()
        proc.wait(timeout=10)


def test_the_image_installs_into_a_venv_as_a_non_root_user_from_a_chosen_base():
    assert re.search(r"^ARG BASE_IMAGE=python:3\.11-slim$", DOCKERFILE, re.M)
    assert re.search(r"^FROM \$\{BASE_IMAGE\}$", DOCKERFILE, re.M)
    assert "python3 -m venv /opt/gce-metadata-emulator" in DOCKERFILE
    assert re.search(r"^USER emulator$", DOCKERFILE, re.M)


def test_compose_puts_the_sidecar_at_the_real_address_and_the_app_needs_no_variable():
    metadata = COMPOSE["services"]["metadata"]
    assert metadata["environment"]["GCE_METADATA_EMULATOR_PORT"] == "80"
    network = metadata["networks"]["metadata"]
    assert network == {"ipv4_address": "169.254.169.254",
                       "aliases": ["metadata.google.internal"]}
    assert COMPOSE["networks"]["metadata"]["ipam"]["config"] == [{"subnet": "169.254.169.0/24"}]
    app = COMPOSE["services"]["app"]
    assert app["depends_on"]["metadata"]["condition"] == "service_healthy"
    assert "environment" not in app
    assert app["build"]["context"] == "examples/app"


def test_compose_config_serves_its_project_at_port_80_semantics():
    """The sidecar's command and mounted config start as they are written (here on a free
    loopback port in place of 0.0.0.0:80)."""
    metadata = COMPOSE["services"]["metadata"]
    command = metadata["command"]
    mounted = {v.split(":")[1]: v.split(":")[0] for v in metadata["volumes"]}
    config = command[command.index("--config") + 1]
    source = (ROOT / mounted[config]).resolve()
    port = str(free_port())
    env = clean_env(GCE_METADATA_EMULATOR_HOST="127.0.0.1", GCE_METADATA_EMULATOR_PORT=port)
    proc = run_image(env, *[a if a != config else str(source) for a in command])
    try:
        banner = proc.stdout.readline()
        assert "project acme-dev" in banner and f"127.0.0.1:{port}" in banner
    finally:
        proc.terminate()
        proc.wait(timeout=10)


def test_the_banner_of_a_wildcard_bind_names_the_addresses_clients_use():
    port = str(free_port())
    proc = run_image(clean_env(), "serve", "--host", "0.0.0.0", "--port", port)
    try:
        banner = proc.stdout.readline()
    finally:
        proc.terminate()
        proc.wait(timeout=10)
    assert f"serving http://127.0.0.1:{port}/computeMetadata/v1/" in banner
    for address in also_at("0.0.0.0", int(port)):
        assert f"{address}" in banner
    # In the compose container, its address is the real one: clients need nothing.
    text = banner_of(config.load(EXAMPLE), "local", "127.0.0.1:80", also=["169.254.169.254:80"])
    assert text.endswith(
        "clients need: GCE_METADATA_HOST=127.0.0.1:80 GCE_METADATA_IP=127.0.0.1:80 "
        "GCE_METADATA_ROOT=127.0.0.1:80; also reached at 169.254.169.254:80 (169.254.169.254:80 "
        "is the real metadata address: clients that reach it as metadata.google.internal need "
        "no variable)")


def test_the_readme_real_tokens_override_merges_as_documented(tmp_path):
    """README's docker-compose.override.yml, pasted as it is, merged by docker-compose."""
    if shutil.which("docker-compose") is None:
        pytest.skip("docker-compose is not installed (apt-get install docker-compose)")
    readme = (ROOT / "README.md").read_text()
    override = tmp_path / "docker-compose.override.yml"
    override.write_text(re.search(r"```yaml\n(# docker-compose\.override\.yml.*?)```", readme,
                                  re.S).group(1))
    argv = ["docker-compose", "-f", str(ROOT / "docker-compose.yml"), "-f", str(override),
            "config"]
    missing = subprocess.run(argv, cwd=ROOT, capture_output=True, text=True,
                             env=clean_env(HOME=str(tmp_path)))
    assert missing.returncode == 1 and "run with HOST_UID=$(id -u)" in missing.stderr
    done = subprocess.run(argv, cwd=ROOT, capture_output=True, text=True, check=True,
                          env=clean_env(HOME=str(tmp_path), HOST_UID="1000"))
    metadata = yaml.safe_load(done.stdout)["services"]["metadata"]
    assert metadata["user"] == "1000"
    assert metadata["command"][:3] == ["serve", "--service-account",
                                       "app@my-project.iam.gserviceaccount.com"]
    assert metadata["environment"] == {"GCE_METADATA_EMULATOR_PORT": "80",
                                       "GOOGLE_APPLICATION_CREDENTIALS": "/adc.json"}
    sources = {v["source"] if isinstance(v, dict) else v.split(":")[0]: v
               for v in metadata["volumes"]}
    assert str(tmp_path / ".config/gcloud/application_default_credentials.json") in sources
