"""Local tokens: no credentials anywhere, ID tokens that verify against the emulator's keys."""

from __future__ import annotations

import asyncio
import json
import sys

import pytest
from google.auth import jwt

from tests.conftest import FLAVOR, ROOT, run_client

SA = "/computeMetadata/v1/instance/service-accounts/"
APP = "app@acme-dev.iam.gserviceaccount.com"


async def test_access_token_shape_and_countdown(client):
    resp = await client.get(SA + "default/token", headers=FLAVOR)
    assert resp.status == 200
    assert resp.headers["Content-Type"] == "application/json"
    assert "ETag" not in resp.headers
    body = await resp.read()
    doc = json.loads(body)
    assert list(doc) == ["access_token", "expires_in", "token_type"]
    assert body.startswith(b'{"access_token":"ya29.LOCAL-EMULATOR-TOKEN.')
    assert type(doc["expires_in"]) is int and 3590 <= doc["expires_in"] <= 3600
    assert doc["token_type"] == "Bearer"
    await asyncio.sleep(1.1)
    again = await (await client.get(SA + "default/token", headers=FLAVOR)).json()
    assert again["access_token"] == doc["access_token"]  # cached
    assert again["expires_in"] < doc["expires_in"]  # counts down


async def test_scopes_select_the_token(client):
    async def token(query: str) -> str:
        resp = await client.get(SA + f"{APP}/token{query}", headers=FLAVOR)
        return (await resp.json())["access_token"]

    default = await token("")
    assert await token("?scopes=https://www.googleapis.com/auth/cloud-platform") == default
    ab = await token("?scopes=a,b")
    assert ab != default
    assert await token("?scopes=b,%20a") == ab


async def test_default_and_email_share_tokens(client):
    by_alias = await (await client.get(SA + "default/token", headers=FLAVOR)).json()
    by_email = await (await client.get(SA + f"{APP}/token", headers=FLAVOR)).json()
    assert by_alias["access_token"] == by_email["access_token"]


async def test_token_post_is_accepted(client):
    """google-auth POSTs a certificate chain to ask for a bound token when it has one."""
    resp = await client.post(SA + "default/token", headers=FLAVOR,
                             json={"certificate_chain": "-----BEGIN CERTIFICATE-----"})
    assert resp.status == 200 and "access_token" in await resp.json()
    resp = await client.post(SA + "default/identity?audience=x", headers=FLAVOR)
    assert resp.status == 405


async def test_identity_claims(client):
    signer_keys = await (await client.get("/emulator/jwks")).json()
    resp = await client.get(SA + "default/identity?audience=https://svc-xyz.run.app",
                            headers=FLAVOR)
    # text/html on a VM, exactly (Ruby googleauth compares it whole); see the profiles
    assert resp.status == 200 and resp.headers["Content-Type"] == "text/html"
    token = (await resp.read()).decode()
    header = jwt.decode_header(token)
    assert header["alg"] == "RS256" and header["kid"] == signer_keys["keys"][0]["kid"]
    claims = jwt.decode(token, verify=False)
    assert claims["iss"] == "https://accounts.google.com"
    assert claims["aud"] == "https://svc-xyz.run.app"
    assert claims["azp"] == claims["sub"] and claims["sub"].isdigit()
    assert claims["exp"] - claims["iat"] == 3600
    assert "email" not in claims and "google" not in claims
    full = await (await client.get(SA + "default/identity?audience=aud-1&format=full"
                                   "&licenses=TRUE", headers=FLAVOR)).text()
    claims = jwt.decode(full, verify=False)
    assert claims["email"] == APP and claims["email_verified"] is True
    engine = claims["google"]["compute_engine"]
    assert engine["project_id"] == "acme-dev" and engine["project_number"] == 123456789012
    assert engine["zone"] == "us-central1-a"
    assert engine["instance_id"] == "10123456789012345678"
    assert engine["instance_name"] == "dev-vm"
    assert isinstance(engine["instance_creation_timestamp"], int)
    assert engine["license_id"]


async def test_identity_bad_requests(client):
    for query, message in (("", b"non-empty audience parameter required"),
                           ("?audience=", b"non-empty audience parameter required"),
                           ("?audience=a&format=compact", b"format"),
                           ("?audience=a&licenses=maybe", b"licenses")):
        resp = await client.get(SA + "default/identity" + query, headers=FLAVOR)
        assert resp.status == 400, query
        assert message in await resp.read()


async def test_unencoded_audience_as_node_sends_it(client):
    resp = await client.get(SA + "default/identity?audience=https://svc-xyz.run.app/path",
                            headers=FLAVOR)
    assert jwt.decode(await resp.text(), verify=False)["aud"] == "https://svc-xyz.run.app/path"


async def test_discovery_documents_are_public_and_absolute(client):
    resp = await client.get("/emulator/.well-known/openid-configuration")
    assert resp.status == 200 and resp.headers["Metadata-Flavor"] == "Google"
    doc = await resp.json()
    base = str(client.make_url(""))
    assert doc["jwks_uri"] == base + "/emulator/jwks"
    assert doc["x509_certs_uri"] == base + "/emulator/certs"
    assert doc["issuer"] == "https://accounts.google.com"
    keys = await (await client.get("/emulator/jwks")).json()
    assert keys["keys"][0]["kty"] == "RSA" and keys["keys"][0]["alg"] == "RS256"
    certs = await (await client.get("/emulator/certs")).json()
    assert list(certs) == [keys["keys"][0]["kid"]]
    assert next(iter(certs.values())).startswith("-----BEGIN CERTIFICATE-----")


async def test_signing_key_from_config_gives_reproducible_key_ids(make_client, tmp_path):
    from gce_metadata_emulator.credentials.local import LocalSigner
    from tests.fake_google import new_key

    pem = new_key()[0].encode()
    (tmp_path / "key.pem").write_bytes(pem)
    text = "emulator:\n  credentials: local\n  signing-key: key.pem\n"
    first, _ = await make_client(text)
    kid = (await (await first.get("/emulator/jwks")).json())["keys"][0]["kid"]
    assert kid == LocalSigner(pem).key_id


def test_bad_signing_key_is_a_config_error(tmp_path):
    from gce_metadata_emulator.cli import main

    (tmp_path / "key.pem").write_text("not a key")
    config = tmp_path / "c.yaml"
    config.write_text("emulator:\n  credentials: local\n  signing-key: key.pem\n")
    assert main(["env-init", "--config", str(config)]) == 0  # env-init does not load keys
    assert main(["serve", "--config", str(config), "--port", "0"]) == 2


@pytest.mark.parametrize("kind", ["certs", "jwks"])
def test_python_verifies_local_id_tokens(start_emulator, example_config, kind):
    """A service under test verifies the emulator's ID tokens with google-auth."""
    emulator = start_emulator("--config", str(example_config))
    out = run_client([sys.executable, str(ROOT / "tests/clients/python_verify_id_token.py"),
                      "https://my-service.example", f"{emulator.url}/emulator/{kind}"],
                     emulator.client_env())
    claims = json.loads(out)
    assert claims["aud"] == "https://my-service.example"
    assert claims["email"] == APP
