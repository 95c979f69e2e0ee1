"""The Dockerfile and compose file, exercised the way the container runs them: the image's
command as a separate process (bound to loopback on a free port here: the fixture's
--host/--port come last and win), its health check, and what the compose file gives the app."""

from __future__ import annotations

import json
import re
import subprocess
import sys

import yaml

from tests.conftest import ROOT, clean_env

DOCKERFILE = (ROOT / "Dockerfile").read_text()
COMPOSE = yaml.safe_load((ROOT / "docker-compose.yml").read_text())


def instruction(name: str) -> list[str]:
    match = re.search(rf"^{name}\s+(\[.*\])\s*$", DOCKERFILE, re.M)
    assert match, f"no exec-form {name} in the Dockerfile"
    return json.loads(match.group(1))


def test_image_command_serves_and_its_health_check_passes(start_emulator):
    assert instruction("ENTRYPOINT") == ["gce-metadata-emulator"]
    cmd = instruction("CMD")
    assert cmd[:1] == ["serve"] and cmd[cmd.index("--port") + 1] == "8080"
    # start_emulator appends --host 127.0.0.1 --port 0, which win over the image's own
    emulator = start_emulator(*cmd)
    check = re.search(r"HEALTHCHECK [^\n]*\\\n\s*CMD (\[[^\n]*\])", DOCKERFILE).group(1)
    argv = json.loads(check)
    assert argv[0] == "python"
    argv = [sys.executable, *argv[1:]]
    argv[-1] = argv[-1].replace("127.0.0.1:8080", emulator.address)
    assert subprocess.run(argv, timeout=10, env=clean_env()).returncode == 0


def test_compose_sidecar(start_emulator):
    metadata = COMPOSE["services"]["metadata"]
    assert "metadata.google.internal" in metadata["networks"]["default"]["aliases"]
    command = metadata["command"]
    port = command[command.index("--port") + 1]
    mounted = {v.split(":")[1]: v.split(":")[0] for v in metadata["volumes"]}
    config = command[command.index("--config") + 1]
    source = (ROOT / mounted[config]).resolve()
    emulator = start_emulator(*[a if a != config else str(source) for a in command])
    assert "project acme-dev" in emulator.banner
    app = COMPOSE["services"]["app"]
    assert app["depends_on"]["metadata"]["condition"] == "service_healthy"
    env = app["environment"]
    for var in ("GCE_METADATA_HOST", "GCE_METADATA_IP", "GCE_METADATA_ROOT"):
        assert env[var] == f"metadata.google.internal:{port}"
    assert env["GCE_METADATA_MTLS_MODE"] == "none"
    assert env["METADATA_SERVER_DETECTION"] == "assume-present"
    # The app reaches it under the alias: the Host header it sends is accepted.
    import urllib.request

    request = urllib.request.Request(
        emulator.url + "/computeMetadata/v1/project/project-id",
        headers={"Metadata-Flavor": "Google", "Host": env["GCE_METADATA_HOST"]})
    with urllib.request.urlopen(request, timeout=5) as resp:
        assert resp.read() == b"acme-dev"
