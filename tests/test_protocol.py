"""The wire contract of shared/protocol.md sections 1 to 5, byte for byte."""

from __future__ import annotations

import json
import re

from tests.conftest import FLAVOR

V1 = "/computeMetadata/v1"
APP = "app@acme-dev.iam.gserviceaccount.com"
BATCH = "batch@acme-dev.iam.gserviceaccount.com"
CLOUD = "https://www.googleapis.com/auth/cloud-platform"


async def get(client, path: str, headers=FLAVOR, **kwargs):
    resp = await client.get(path, headers=headers, allow_redirects=False, **kwargs)
    return resp, await resp.read()


def assert_common_headers(resp) -> None:
    assert resp.headers.getall("Metadata-Flavor") == ["Google"]
    assert resp.headers.getall("Server") == ["Metadata Server for VM"]
    assert resp.headers["X-XSS-Protection"] == "0"
    assert resp.headers["X-Frame-Options"] == "SAMEORIGIN"


async def test_root_answers_without_the_flavor_header(client):
    resp, body = await get(client, "/", headers={})
    assert resp.status == 200
    assert body == b"computeMetadata/\n"
    assert resp.headers["Content-Type"] == "application/text"
    assert re.fullmatch(r"[0-9a-f]{16}", resp.headers["ETag"])
    assert_common_headers(resp)


async def test_top_listings(client):
    assert (await get(client, "/computeMetadata/", headers={}))[1] == b"v1/\n"
    resp, body = await get(client, V1 + "/")
    assert body == b"instance/\nproject/\nuniverse/\n"
    assert resp.headers["Content-Type"] == "application/text"


async def test_instance_listing_has_the_real_shape(client):
    _, body = await get(client, V1 + "/instance/")
    assert body.decode().splitlines() == [
        "attributes/", "cpu-platform", "description", "disks/", "guest-attributes/",
        "hostname", "id", "image",
        "licenses/", "machine-type", "maintenance-event", "name", "network-interfaces/",
        "preempted", "remaining-cpu-time", "scheduling/", "service-accounts/", "tags",
        "virtual-clock/", "zone"]
    assert body.endswith(b"\n")
    assert (await get(client, V1 + "/instance/network-interfaces/"))[1] == b"0/\n"
    _, nic = await get(client, V1 + "/instance/network-interfaces/0/")
    assert b"access-configs/\n" in nic and b"dns-servers\n" in nic
    assert b"forwarded-ips/\n" in nic and b"ip-aliases/\n" in nic


async def test_values_are_plain_text_without_newline(client):
    expected = {
        "/project/project-id": b"acme-dev",
        "/project/numeric-project-id": b"123456789012",
        "/project/attributes/env": b"dev",
        "/instance/id": b"10123456789012345678",
        "/instance/name": b"dev-vm",
        "/instance/zone": b"projects/123456789012/zones/us-central1-a",
        "/instance/machine-type": b"projects/123456789012/machineTypes/e2-medium",
        "/instance/hostname": b"dev-vm.us-central1-a.c.acme-dev.internal",
        "/instance/attributes/role": b"web",
        "/instance/description": b"a VM that exists only on this laptop",
        "/instance/scheduling/preemptible": b"FALSE",
        "/instance/network-interfaces/0/network": b"projects/123456789012/networks/default",
        "/universe/universe-domain": b"googleapis.com",
    }
    for path, value in expected.items():
        resp, body = await get(client, V1 + path)
        assert (resp.status, body) == (200, value), path
        assert resp.headers["Content-Type"] == "application/text"
        assert re.fullmatch(r"[0-9a-f]{16}", resp.headers["ETag"])
        assert_common_headers(resp)


async def test_tags_are_json(client):
    resp, body = await get(client, V1 + "/instance/tags")
    assert body == b'["http-server"]'
    assert resp.headers["Content-Type"] == "application/json"


async def test_recursive_instance_json(client):
    resp, body = await get(client, V1 + "/instance/?recursive=true")
    assert resp.headers["Content-Type"] == "application/json"
    assert b'"id":10123456789012345678,' in body  # a JSON number beyond 2^63, not a string
    assert body.startswith(b'{"attributes":{"role":"web"},"cpuPlatform":')  # compact
    doc = json.loads(body)
    assert doc["id"] == 10123456789012345678
    assert doc["machineType"] == "projects/123456789012/machineTypes/e2-medium"
    assert doc["attributes"] == {"role": "web"}
    assert doc["networkInterfaces"][0]["accessConfigs"][0]["externalIp"]
    assert doc["scheduling"] == {"automaticRestart": "TRUE", "onHostMaintenance": "MIGRATE",
                                 "preemptible": "FALSE"}
    assert doc["tags"] == ["http-server"]
    assert set(doc["serviceAccounts"]) == {APP, BATCH, "default"}
    assert doc["serviceAccounts"]["default"] == {"aliases": ["default"], "email": APP,
                                                 "scopes": [CLOUD]}
    assert b"token" not in body and b"identity" not in body


async def test_recursive_project_json_keeps_user_keys(make_client):
    client, _ = await make_client("project:\n  project-id: acme-dev\n  numeric-project-id: 42\n"
                                  "  attributes:\n    ssh-keys: 'a:b'\n    my-Key_1: x\n")
    _, body = await get(client, V1 + "/project/?recursive=true")
    assert body == (b'{"attributes":{"my-Key_1":"x","ssh-keys":"a:b"},"numericProjectId":42,'
                    b'"projectId":"acme-dev"}')


async def test_service_accounts(client):
    base = V1 + "/instance/service-accounts/"
    assert (await get(client, base))[1] == f"{APP}/\n{BATCH}/\ndefault/\n".encode()
    assert (await get(client, base + "default/"))[1] == (
        b"aliases\nemail\nidentity\nscopes\ntoken\n")
    assert (await get(client, base + "default/email"))[1] == APP.encode()
    assert (await get(client, base + f"{APP}/aliases"))[1] == b"default\n"
    assert (await get(client, base + f"{BATCH}/aliases"))[1] == b""
    assert (await get(client, base + "default/scopes"))[1] == (CLOUD + "\n").encode()
    resp, body = await get(client, base + "default/?recursive=true")
    assert body == f'{{"aliases":["default"],"email":"{APP}","scopes":["{CLOUD}"]}}'.encode()
    assert resp.headers["Content-Type"] == "application/json"
    resp, _ = await get(client, base + "nobody@acme-dev.iam.gserviceaccount.com/token")
    assert resp.status == 404


async def test_directory_without_slash_redirects_keeping_the_query(client):
    resp, body = await get(client, V1 + "/instance?recursive=true&alt=json")
    assert resp.status == 301
    assert resp.headers["Location"] == V1 + "/instance/?recursive=true&alt=json"
    assert body == (V1 + "/instance/?recursive=true&alt=json").encode()
    assert_common_headers(resp)
    resp, _ = await get(client, V1 + "/instance/disks")
    assert resp.headers["Location"] == V1 + "/instance/disks/"


async def test_not_found_is_googles_html_page(client):
    for path in (V1 + "/instance/nope", V1 + "/project/project-id/", V1 + "beta1/",
                 "/computeMetadata/v1beta1/instance/", "/computeMetadata/0.1/",
                 V1 + "/instance/disks/1/", V1 + "/instance/disks/00/", V1 + "//instance/"):
        resp, body = await get(client, path)
        assert resp.status == 404, path
        assert resp.headers["Content-Type"] == "text/html; charset=UTF-8"
        assert f"The requested URL <code>{path}</code> was not found".encode() in body
        assert_common_headers(resp)


async def test_flavor_header_is_required_below_v1(client):
    for headers in ({}, {"Metadata-Flavor": "google"}, {"Metadata-Flavor": "Bogus"},
                    {"X-Google-Metadata-Request": "True"}):
        resp, body = await get(client, V1 + "/project/project-id?alt=text", headers=headers)
        assert resp.status == 403, headers
        assert resp.headers["Content-Type"] == "text/html; charset=UTF-8"
        assert b"Missing Metadata-Flavor:Google header." in body
        assert f"<code>{V1}/project/project-id?alt=text</code>".encode() in body
        assert_common_headers(resp)


async def test_proxied_requests_are_refused(client):
    for path in ("/", V1 + "/project/project-id"):
        resp, body = await get(client, path, headers={**FLAVOR, "X-Forwarded-For": "10.0.0.9"})
        assert resp.status == 403
        assert b"X-Forwarded-For" in body


async def test_host_header_guards_against_dns_rebinding(client):
    resp, body = await get(client, V1 + "/project/project-id",
                           headers={**FLAVOR, "Host": "attacker.example:8080"})
    assert resp.status == 403
    assert b"emulator.allowed-hosts" in body
    for host in ("metadata.google.internal", "localhost:8080", "127.0.0.1:1", "[::1]:80",
                 "169.254.169.254"):
        resp, body = await get(client, V1 + "/project/project-id", headers={**FLAVOR,
                                                                           "Host": host})
        assert (resp.status, body) == (200, b"acme-dev"), host


async def test_allowed_hosts_from_config(make_client):
    client, _ = await make_client("emulator:\n  allowed-hosts: [gce-metadata]\n")
    resp, _ = await get(client, "/", headers={"Host": "gce-metadata:8080"})
    assert resp.status == 200


async def test_alt_json_and_text(client):
    resp, body = await get(client, V1 + "/project/project-id?alt=json")
    assert (body, resp.headers["Content-Type"]) == (b'"acme-dev"', "application/json")
    assert (await get(client, V1 + "/project/numeric-project-id?alt=json"))[1] == b"123456789012"
    assert (await get(client, V1 + "/instance/service-accounts/default/scopes?alt=json"))[1] == \
        f'["{CLOUD}"]'.encode()
    assert (await get(client, V1 + "/project/project-id?alt=text"))[1] == b"acme-dev"
    resp, body = await get(client, V1 + "/instance/?recursive=true&alt=text")
    assert resp.headers["Content-Type"] == "application/text"
    lines = body.decode().splitlines()
    assert "disks/0/device-name persistent-disk-0" in lines
    assert "tags http-server" in lines
    assert "attributes/role web" in lines
    assert "network-interfaces/0/access-configs/0/type ONE_TO_ONE_NAT" in lines
    assert f"service-accounts/default/scopes {CLOUD}" in lines
    assert not any(line.split(" ")[0].endswith(("/token", "/identity")) for line in lines)
    assert body.endswith(b"\n")


async def test_bad_query_values_get_400(client):
    for query in ("recursive=maybe", "recursive=true&alt=xml", "timeout_sec=abc",
                  "timeout_sec=-1", "recursive=true&wait_for_change=yes"):
        resp, body = await get(client, V1 + "/instance/?" + query)
        assert resp.status == 400, query
        assert query.split("&")[-1].split("=")[0].encode() in body
        assert_common_headers(resp)
    resp, body = await get(client, V1 + "/instance/?alt=json")
    assert resp.status == 400 and b"recursive=true" in body
    resp, body = await get(client, V1 + "/instance/?wait_for_change=true")
    assert resp.status == 400 and b"recursive=true" in body


async def test_unknown_parameters_are_ignored(client):
    resp, body = await get(client, V1 + "/project/project-id?bindCertificateFingerprint=x"
                           "&transport=mtls&RECURSIVE=x")
    assert (resp.status, body) == (200, b"acme-dev")


async def test_methods(client):
    resp = await client.post(V1 + "/project/project-id", headers=FLAVOR)
    assert resp.status == 405 and resp.headers["Allow"] == "GET, HEAD"
    resp = await client.request("PROPFIND", V1 + "/instance/", headers=FLAVOR)
    assert resp.status == 405
    resp = await client.head(V1 + "/project/project-id", headers=FLAVOR)
    assert resp.status == 200 and await resp.read() == b""
    assert resp.headers["Content-Length"] == "8"


async def test_etag_follows_content(client):
    first, _ = await get(client, V1 + "/instance/attributes/role")
    again, _ = await get(client, V1 + "/instance/attributes/role")
    assert first.headers["ETag"] == again.headers["ETag"]
    other, _ = await get(client, V1 + "/instance/name")
    assert other.headers["ETag"] != first.headers["ETag"]
    await client.put("/emulator/v1/metadata/instance/attributes/role", data="db")
    changed, body = await get(client, V1 + "/instance/attributes/role")
    assert body == b"db" and changed.headers["ETag"] != first.headers["ETag"]


async def test_emulator_health_needs_no_flavor(client):
    resp, body = await get(client, "/emulator/health", headers={})
    assert (resp.status, body) == (200, b"ok\n")
    resp, _ = await get(client, "/emulator/nothing-here", headers={})
    assert resp.status == 404


async def test_guest_attributes_are_written_by_the_vm(client):
    base = V1 + "/instance/guest-attributes/"
    assert (await get(client, base))[1] == b""
    resp = await client.put(base + "hostkeys/ssh-ed25519", data="AAAAC3Nz", headers=FLAVOR)
    assert (resp.status, await resp.read()) == (200, b"")
    assert (await get(client, base))[1] == b"hostkeys/\n"
    assert (await get(client, base + "hostkeys/ssh-ed25519"))[1] == b"AAAAC3Nz"
    _, body = await get(client, base + "?recursive=true")
    assert body == b'{"hostkeys":{"ssh-ed25519":"AAAAC3Nz"}}'
    resp = await client.put(base + "hostkeys/ssh-ed25519", data="changed")  # no flavor
    assert resp.status == 403
    for bad in ("hostkeys", "a/b/c", "a/b%20c"):
        resp = await client.put(base + bad, data="x", headers=FLAVOR)
        assert resp.status == 400, bad
    resp = await client.put(base + "big/value", data="x" * (100 * 1024 + 1), headers=FLAVOR)
    assert resp.status == 413
    resp = await client.delete(base + "hostkeys/ssh-ed25519", headers=FLAVOR)
    assert resp.status == 200
    assert (await get(client, base + "hostkeys/ssh-ed25519"))[0].status == 404
    resp = await client.put(V1 + "/instance/attributes/role", data="x", headers=FLAVOR)
    assert resp.status == 405  # the rest of the tree is read-only
