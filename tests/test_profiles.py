"""Platform profiles: the metadata server of a VM, of a GKE pod and of Cloud Run, byte for
byte where clients look (headers, listings, refusals, 404s), then the real clients and
OpenTelemetry's resource detector against each."""

from __future__ import annotations

import json
import re
import shutil
import subprocess
import sys

import pytest

from tests.conftest import CLI, EXAMPLE, FLAVOR, ROOT, clean_env, run_client

V1 = "/computeMetadata/v1/"
SA = V1 + "instance/service-accounts/"
NODE = ROOT / "tests" / "node"
GKE_403 = (b'GKE Metadata Server encountered an error: Missing required header '
           b'"Metadata-Flavor": "Google"\n')
CONFIG = """
project: {project-id: acme-dev, numeric-project-id: 123456789012}
instance: {zone: europe-west1-b}
emulator: {profile: %s}
"""


async def get(client, path, **headers):
    resp = await client.get(path, headers=headers, allow_redirects=False)
    return resp.status, dict(resp.headers), await resp.read()


async def test_gce_is_the_default_and_answers_as_a_vm(make_client):
    client, _ = await make_client("project: {project-id: acme-dev}\n")
    status, headers, body = await get(client, "/")
    assert (status, body) == (200, b"computeMetadata/\n")  # no flavor needed on /
    assert headers["Server"] == "Metadata Server for VM"
    status, headers, _ = await get(client, SA + "default/identity?audience=x", **FLAVOR)
    assert status == 200 and headers["Content-Type"] == "text/html"  # exactly: Ruby compares it
    _, _, body = await get(client, V1 + "instance/", **FLAVOR)
    assert b"network-interfaces/\n" in body and b"guest-attributes/\n" in body


async def test_gke_serves_its_subset_and_refuses_as_a_go_server(make_client):
    client, _ = await make_client(CONFIG % "gke")
    status, headers, body = await get(client, "/")
    assert (status, body) == (403, GKE_403)
    assert headers["Content-Type"] == "text/plain; charset=utf-8"
    assert headers["X-Content-Type-Options"] == "nosniff"
    assert headers["Server"] == "GKE Metadata Server" and "Metadata-Flavor" not in headers
    status, headers, body = await get(client, "/", **FLAVOR)
    assert (status, body) == (200, b"computeMetadata/\n")
    assert headers["Metadata-Flavor"] == "Google" and headers["Server"] == "GKE Metadata Server"
    listings = {
        V1: b"instance/\nproject/\nuniverse/\n",
        V1 + "instance/": b"attributes/\nhostname\nid\nservice-accounts/\nzone\n",
        V1 + "instance/attributes/": b"cluster-location\ncluster-name\ncluster-uid\n",
        V1 + "project/": b"numeric-project-id\nproject-id\n",
    }
    for path, listing in listings.items():
        assert (await get(client, path, **FLAVOR))[::2] == (200, listing), path
    values = {"instance/attributes/cluster-name": b"emulated-cluster",
              "instance/attributes/cluster-location": b"europe-west1",
              "instance/zone": b"projects/123456789012/zones/europe-west1-b",
              "project/project-id": b"acme-dev"}
    for path, value in values.items():
        assert (await get(client, V1 + path, **FLAVOR))[::2] == (200, value), path
    uid = (await get(client, V1 + "instance/attributes/cluster-uid", **FLAVOR))[2]
    assert re.fullmatch(rb"[0-9a-f]{64}", uid)
    hostname = (await get(client, V1 + "instance/hostname", **FLAVOR))[2]
    assert re.fullmatch(rb"gke-emulated-cluster-default-pool-[0-9a-f]{8}-[0-9a-f]{4}\."
                        rb"europe-west1-b\.c\.acme-dev\.internal", hostname)
    for path in ("instance/name", "instance/network-interfaces/", "instance/attributes/role",
                 "instance/guest-attributes/", "project/attributes/"):
        status, headers, body = await get(client, V1 + path, **FLAVOR)
        assert (status, body) == (404, b"Not Found\n"), path
        assert headers["Content-Type"] == "text/plain; charset=utf-8"
    resp = await client.put(V1 + "instance/guest-attributes/ns/key", data=b"v", headers=FLAVOR)
    assert resp.status == 404
    status, headers, token = await get(client, SA + "default/identity?audience=x", **FLAVOR)
    assert status == 200 and headers["Content-Type"] == "application/text"
    assert token.count(b".") == 2
    status, headers, body = await get(client, SA + "default/token", **FLAVOR)
    assert status == 200 and headers["Content-Type"] == "application/json"
    assert headers["Server"] == "GKE Metadata Server" and b"access_token" in body


async def test_cloud_run_serves_region_and_its_forms_and_a_403_without_flavor(make_client):
    client, _ = await make_client(CONFIG % "cloud-run")
    status, headers, body = await get(client, V1 + "project/project-id")
    assert status == 403 and "Metadata-Flavor" not in headers
    assert headers["Server"] == "Metadata Server for Serverless"
    status, headers, body = await get(client, V1 + "instance/", **FLAVOR)
    assert (status, body) == (200, b"id\nregion\nservice-accounts/\nzone\n")
    assert headers["Server"] == "Metadata Server for Serverless"
    assert headers["Metadata-Flavor"] == "Google"
    assert (await get(client, V1 + "instance/region", **FLAVOR))[2] == \
        b"projects/123456789012/regions/europe-west1"
    assert (await get(client, V1 + "instance/zone", **FLAVOR))[2] == \
        b"projects/123456789012/zones/europe-west1-1"
    assert re.fullmatch(rb"[0-9a-f]{128}", (await get(client, V1 + "instance/id", **FLAVOR))[2])
    for path in ("instance/network-interfaces/", "instance/attributes/", "instance/disks/",
                 "instance/guest-attributes/", "instance/name"):
        assert (await get(client, V1 + path, **FLAVOR))[0] == 404, path
    status, headers, _ = await get(client, SA + "default/identity?audience=x", **FLAVOR)
    assert status == 200 and headers["Content-Type"] == "application/text"


async def test_the_config_overrides_a_value_of_the_profile(make_client):
    client, _ = await make_client("""
instance: {attributes: {cluster-name: payments, cluster-location: us-east1-c}}
emulator: {profile: gke}
""")
    assert (await get(client, V1 + "instance/attributes/cluster-name", **FLAVOR))[2] == \
        b"payments"
    assert (await get(client, V1 + "instance/attributes/cluster-location", **FLAVOR))[2] == \
        b"us-east1-c"


def test_the_flag_wins_and_keys_a_profile_does_not_serve_are_named(start_emulator):
    emulator = start_emulator("--config", str(EXAMPLE), "--profile", "cloud-run")
    assert "profile cloud-run" in emulator.banner
    code, err = emulator.stop()
    assert code == 0
    warning = next(line for line in err.splitlines() if "profile cloud-run:" in line)
    assert "its metadata server does not serve" in warning
    for key in ("instance/name", "instance/machine-type", "instance/attributes/role",
                "project/attributes/env"):
        assert key in warning


def test_a_bad_profile_is_named(tmp_path):
    done = subprocess.run([*CLI, "--profile", "lambda"], capture_output=True, text=True,
                          env=clean_env(), timeout=30)
    assert done.returncode == 2 and "--profile" in done.stderr and "gke" in done.stderr
    config = tmp_path / "c.yaml"
    config.write_text("emulator: {profile: eks}\n")
    done = subprocess.run([*CLI, "--config", str(config)], capture_output=True, text=True,
                          env=clean_env(), timeout=30)
    assert done.returncode == 2 and "emulator.profile: expected one of gce, gke, cloud-run, " \
        "got 'eks'" in done.stderr


@pytest.mark.parametrize("profile", ["gce", "gke", "cloud-run"])
def test_real_clients_find_the_project_and_get_tokens(start_emulator, profile):
    emulator = start_emulator("--config", str(EXAMPLE), "--profile", profile)
    out = json.loads(run_client([sys.executable, str(ROOT / "tests/clients/python_tokens.py"),
                                 "https://svc.example"], emulator.client_env()))
    assert out["project"] == "acme-dev"
    assert out["credentials"] == "google.auth.compute_engine.credentials.Credentials"
    assert out["access_token"].startswith("ya29.LOCAL-EMULATOR-TOKEN.")
    assert out["id_token"].count(".") == 2 and out["fetched_id_token"].count(".") == 2
    if shutil.which("node") is None or not (NODE / "node_modules").is_dir():
        pytest.fail("Node clients are not installed: run `npm ci --prefix tests/node`")
    # gcp-metadata's own detection (no assume-present): the 301, the flavor header
    probing = {k: v for k, v in emulator.client_env().items()
               if k != "METADATA_SERVER_DETECTION"}
    assert run_client(["node", "-e", "require('gcp-metadata').isAvailable()"
                       ".then((v) => process.stdout.write(String(v)))"], probing,
                      cwd=NODE) == "true"
    node = json.loads(run_client(["node", str(NODE / "tokens.js"), "https://svc.example"],
                                 emulator.client_env()))
    assert node["projectId"] == "acme-dev"
    assert node["accessToken"].startswith("ya29.LOCAL-EMULATOR-TOKEN.")
    assert node["idToken"].count(".") == 2


EXPECTED = {
    "gce": {"cloud.platform": "gcp_compute_engine", "cloud.availability_zone": "us-central1-a",
            "host.id": "10123456789012345678", "host.name": "dev-vm"},
    "gke": {"cloud.platform": "gcp_kubernetes_engine", "k8s.cluster.name": "emulated-cluster",
            "cloud.region": "us-central1", "host.id": "10123456789012345678"},
    "cloud-run": {"cloud.platform": "gcp_cloud_run", "cloud.region": "us-central1",
                  "faas.name": "emulated-service", "faas.version": "emulated-service-00001-emu",
                  "faas.instance": "10123456789012345678"},
}


@pytest.mark.parametrize("profile", EXPECTED)
def test_opentelemetry_detects_the_platform_through_exec(profile):
    """Node's @opentelemetry/resource-detector-gcp, unchanged: exec sets what the platform's
    workloads see (K_SERVICE..., KUBERNETES_SERVICE_HOST) beside the server variables."""
    if shutil.which("node") is None or not (NODE / "node_modules").is_dir():
        pytest.fail("Node clients are not installed: run `npm ci --prefix tests/node`")
    done = subprocess.run([*CLI, "exec", "--config", str(EXAMPLE), "--profile", profile, "--",
                           "node", str(NODE / "detect.js")], capture_output=True, text=True,
                          env=clean_env(), timeout=60, cwd=ROOT)
    assert done.returncode == 0, done.stderr
    attributes = json.loads(done.stdout)
    assert attributes["cloud.provider"] == "gcp" and attributes["cloud.account.id"] == "acme-dev"
    for key, value in EXPECTED[profile].items():
        assert attributes.get(key) == value, (key, attributes)


def test_exec_keeps_platform_variables_the_caller_set():
    show = "import os; print(*(os.environ[k] for k in ('K_SERVICE', 'K_REVISION', " \
        "'K_CONFIGURATION', 'PORT')))"
    done = subprocess.run([*CLI, "exec", "--profile", "cloud-run", "--", sys.executable, "-c",
                           show], capture_output=True, text=True, timeout=60, cwd=ROOT,
                          env=clean_env(K_SERVICE="checkout"))
    assert done.stdout == "checkout checkout-00001-emu checkout 8080\n", done.stderr
