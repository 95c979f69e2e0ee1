"""Real client libraries, each in its own process, against the emulator started by its CLI."""

from __future__ import annotations

import json
import shutil
import sys

import pytest

from tests.conftest import ROOT, run_client

NODE = ROOT / "tests" / "node"
APP = "app@acme-dev.iam.gserviceaccount.com"


@pytest.fixture
def emulator(start_emulator, example_config):
    return start_emulator("--config", str(example_config))


def node(script: str, env: dict[str, str]) -> dict:
    if shutil.which("node") is None or not (NODE / "node_modules").is_dir():
        pytest.fail("Node clients are not installed: run `npm ci --prefix tests/node`")
    return json.loads(run_client(["node", str(NODE / script)], env))


def test_python_google_auth_reads_the_metadata(emulator):
    out = json.loads(run_client([sys.executable, str(ROOT / "tests/clients/python_metadata.py")],
                                emulator.client_env()))
    assert out["ping"] is True and out["is_on_gce"] is True
    assert out["project_id"] == "acme-dev"
    assert out["numeric_project_id"] == "123456789012"
    assert out["zone"] == "projects/123456789012/zones/us-central1-a"
    assert out["role"] == "web"
    assert out["instance"]["id"] == 10123456789012345678
    assert out["instance"]["machineType"] == "projects/123456789012/machineTypes/e2-medium"
    assert out["instance"]["attributes"] == {"role": "web"}
    assert out["universe_domain"] == "googleapis.com"
    assert out["account"] == {"aliases": ["default"], "email": APP,
                              "scopes": ["https://www.googleapis.com/auth/cloud-platform"]}


def test_node_gcp_metadata_reads_the_metadata(emulator):
    out = node("metadata.js", emulator.client_env())
    assert out["isAvailable"] is True
    assert out["recursiveId"] == "10123456789012345678"
    assert out["id"] == "10123456789012345678"
    assert out["recursiveName"] == "dev-vm"
    assert "service-accounts/" in out["listing"].split("\n")
    assert out["projectId"] == "acme-dev"
    assert out["numericProjectId"] == "123456789012"
    assert out["zone"] == "projects/123456789012/zones/us-central1-a"
    assert (out["role"], out["env"]) == ("web", "dev")
    assert out["tags"] == ["http-server"]
    assert out["universe"] == "googleapis.com"
