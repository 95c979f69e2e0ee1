"""Real tokens: the developer's ADC impersonates the configured account through IAM (here the
fake Google), seen by real Python and Node clients in their own processes."""

from __future__ import annotations

import asyncio
import json
import subprocess
import sys

from google.auth import jwt

from tests import fake_google
from tests.conftest import CLI, FLAVOR, ROOT, clean_env, run_client
from tests.fake_google import FakeGoogle
from tests.impersonation import (
    APP,
    AUDIENCE,
    BATCH,
    KEY_SA,
    RELAY,
    TARGET,
    TOKEN,
    authorized_user,
    external_account,
    impersonated,
    service_account_key,
    setup,
    start,
)


def python_tokens(emulator) -> dict:
    return json.loads(run_client(
        [sys.executable, str(ROOT / "tests/clients/python_tokens.py"), AUDIENCE],
        emulator.client_env()))


def verified(fake: FakeGoogle, token: str) -> dict:
    return jwt.decode(token, certs=fake.public_pem, audience=AUDIENCE)


def test_python_clients_get_the_impersonated_accounts_tokens(start_emulator, fake, tmp_path):
    emulator = start(start_emulator, *setup(tmp_path, fake, authorized_user()))
    assert f"tokens: impersonate for {APP}, {BATCH})" in emulator.banner
    out = python_tokens(emulator)
    assert out["credentials"] == "google.auth.compute_engine.credentials.Credentials"
    assert out["project"] == "acme-dev"
    assert out["access_token"].startswith("ya29.fake-") and out["access_token"].endswith(APP)
    assert fake.issued[out["access_token"]] == f"serviceAccount:{APP}"
    claims = verified(fake, out["id_token"])
    assert claims["email"] == APP  # IDTokenCredentials asks for format=full
    assert verified(fake, out["fetched_id_token"])["aud"] == AUDIENCE
    access = [r for r in fake.requests if r["method"] == "generateAccessToken"]
    assert access == [{"method": "generateAccessToken", "email": APP, "delegates": [],
                       "lifetime": "3600s",
                       "scope": ["https://www.googleapis.com/auth/cloud-platform"]}]
    assert fake.calls["token"] == 1  # the user's refresh token was used once
    assert fake.calls["generateIdToken"] == 1  # both ID token requests: one upstream call


def test_storage_sample_runs_unchanged(start_emulator, fake, tmp_path):
    emulator = start(start_emulator, *setup(tmp_path, fake, authorized_user()))
    out = run_client([sys.executable, str(ROOT / "tests/clients/storage_sample.py")],
                     emulator.client_env(API_ENDPOINT_OVERRIDE=fake.url))
    assert out.splitlines() == [fake_google.BUCKET]
    assert fake.calls[f"storage by serviceAccount:{APP}"] == 1


def test_node_google_auth_library_gets_tokens(start_emulator, fake, tmp_path):
    emulator = start(start_emulator, *setup(tmp_path, fake, authorized_user()))
    out = json.loads(run_client(["node", str(ROOT / "tests/node/tokens.js"), AUDIENCE],
                                emulator.client_env()))
    assert fake.issued[out["accessToken"]] == f"serviceAccount:{APP}"
    assert out["projectId"] == "acme-dev"
    assert verified(fake, out["idToken"])["aud"] == AUDIENCE


def test_delegates_and_configured_lifetime(start_emulator, fake, tmp_path):
    accounts = f"service-accounts:\n  - email: {APP}\n    delegates: [{RELAY}]\n"
    emulator = start(start_emulator, *setup(tmp_path, fake, authorized_user(), accounts,
                                            "  token-lifetime: 1800s\n"))
    out = run_client([sys.executable, str(ROOT / "tests/clients/python_access_token.py")],
                     emulator.client_env())
    assert fake.issued[out.strip()] == f"serviceAccount:{APP}"
    assert fake.requests[0]["delegates"] == [f"projects/-/serviceAccounts/{RELAY}"]
    assert fake.requests[0]["lifetime"] == "1800s"


def test_permission_denied_reaches_the_client_with_the_fix(start_emulator, fake, tmp_path):
    emulator = start(start_emulator, *setup(tmp_path, fake, authorized_user()),
                     "--service-account", BATCH)
    done = subprocess.run([sys.executable, str(ROOT / "tests/clients/python_access_token.py")],
                          env=emulator.client_env(), capture_output=True, text=True, timeout=60)
    assert done.returncode != 0
    assert "403" in done.stderr
    assert "iam.serviceAccounts.getAccessToken" in done.stderr  # IAM's own words
    assert "denied on resource (or it may not exist)" in done.stderr
    assert f"gcloud iam service-accounts add-iam-policy-binding {BATCH} " in done.stderr
    assert "user:$(gcloud config get-value account)" in done.stderr
    assert "--role=roles/iam.serviceAccountTokenCreator" in done.stderr
    assert fake.calls["generateAccessToken"] == 1  # a refusal is not retried


def test_a_passing_iam_fault_is_retried_upstream(start_emulator, fake, tmp_path):
    emulator = start(start_emulator, *setup(tmp_path, fake, authorized_user()))
    fake.fail_next("generateAccessToken", 503)
    fake.fail_next("generateAccessToken", 429)
    out = run_client([sys.executable, str(ROOT / "tests/clients/python_access_token.py")],
                     emulator.client_env())
    assert fake.issued[out.strip()] == f"serviceAccount:{APP}"
    assert fake.calls["generateAccessToken"] == 3


def test_an_iam_timeout_is_retried_upstream(start_emulator, fake, tmp_path):
    emulator = start(start_emulator, *setup(tmp_path, fake, authorized_user(), timeout="1s"))
    fake.slow_next("generateAccessToken", 1.5)  # beyond upstream-timeout: 1s
    out = run_client([sys.executable, str(ROOT / "tests/clients/python_access_token.py")],
                     emulator.client_env())
    assert fake.issued[out.strip()] == f"serviceAccount:{APP}"
    assert fake.calls["generateAccessToken"] == 2


def test_an_outage_is_a_503_the_client_retries(start_emulator, fake, tmp_path):
    emulator = start(start_emulator, *setup(tmp_path, fake, authorized_user()))
    fake.fail_next("generateAccessToken", 503, times=100)
    done = subprocess.run([sys.executable, str(ROOT / "tests/clients/python_access_token.py")],
                          env=emulator.client_env(), capture_output=True, text=True, timeout=90)
    assert done.returncode != 0
    assert "503" in done.stderr and "the client will retry" in done.stderr
    # google-auth tried 5 times; each try made 3 upstream attempts.
    assert fake.calls["generateAccessToken"] == 15


async def test_iam_timeout_is_a_503(impersonating, fake):
    client, _ = await impersonating(authorized_user(), timeout="1s")
    fake.delay = 2.0
    resp = await client.get(TOKEN, headers=FLAVOR)
    assert resp.status == 503
    assert "did not answer (TimeoutError after 3 tries)" in await resp.text()


async def test_cold_burst_makes_one_upstream_call(impersonating, fake):
    client, _ = await impersonating(authorized_user())
    fake.delay = 0.2
    replies = await asyncio.gather(*(client.get(TOKEN, headers=FLAVOR) for _ in range(200)))
    tokens = {(await r.json())["access_token"] for r in replies}
    assert len(tokens) == 1 and all(r.status == 200 for r in replies)
    assert fake.calls["generateAccessToken"] == 1
    assert fake.calls["token"] == 1


async def test_relogin_message_and_adc_change_without_restart(impersonating, fake):
    client, adc_path = await impersonating(authorized_user(fake_google.REVOKED_REFRESH_TOKEN))
    resp = await client.get(TOKEN, headers=FLAVOR)
    assert resp.status == 403
    text = await resp.text()
    assert "invalid_grant" in text and "gcloud auth application-default login" in text
    assert fake_google.REVOKED_REFRESH_TOKEN not in text
    adc_path.write_text(json.dumps(authorized_user()))  # the developer logs in again
    resp = await client.get(TOKEN, headers=FLAVOR)
    assert resp.status == 200
    assert fake.issued[(await resp.json())["access_token"]] == f"serviceAccount:{APP}"


async def test_an_expired_caller_token_is_refreshed_once(impersonating, fake):
    client, _ = await impersonating(authorized_user())
    fake.fail_next("generateAccessToken", 401)
    resp = await client.get(TOKEN, headers=FLAVOR)
    assert resp.status == 200
    assert fake.calls["token"] == 2 and fake.calls["generateAccessToken"] == 2


async def test_lifetime_over_the_limit_says_how_to_fix(impersonating, fake):
    client, _ = await impersonating(authorized_user(), emulator="  token-lifetime: 7200s\n")
    resp = await client.get(TOKEN, headers=FLAVOR)
    assert resp.status == 400
    assert "emulator.token-lifetime to 3600s or less" in await resp.text()


async def test_service_disabled_says_how_to_enable(impersonating, fake):
    client, _ = await impersonating(authorized_user())
    fake.fail_next("generateAccessToken", 403, {"error": {
        "code": 403, "status": "PERMISSION_DENIED",
        "message": "IAM Service Account Credentials API has not been used in project "
                   "123456789012 before or it is disabled.",
        "details": [{"@type": "type.googleapis.com/google.rpc.ErrorInfo",
                     "reason": "SERVICE_DISABLED", "domain": "googleapis.com",
                     "metadata": {"consumer": "projects/123456789012",
                                  "service": "iamcredentials.googleapis.com"}}]}})
    resp = await client.get(TOKEN, headers=FLAVOR)
    assert resp.status == 403
    assert ("gcloud services enable iamcredentials.googleapis.com --project=123456789012"
            in await resp.text())


async def test_key_adc_mints_its_own_account_without_iam(impersonating, fake):
    client, _ = await impersonating(service_account_key(fake), accounts="")
    email = await (await client.get(TOKEN.replace("token", "email"), headers=FLAVOR)).text()
    assert email == KEY_SA  # the key's account is implied as the default
    token = (await (await client.get(TOKEN, headers=FLAVOR)).json())["access_token"]
    assert fake.issued[token] == f"serviceAccount:{KEY_SA}"
    resp = await client.get(TOKEN.replace("token", f"identity?audience={AUDIENCE}"),
                            headers=FLAVOR)
    assert verified(fake, await resp.text())["email"] == KEY_SA
    assert fake.calls["generateAccessToken"] == 0 and fake.calls["generateIdToken"] == 0
    assert fake.calls["token:id_token"] == 1


async def test_key_adc_impersonates_other_accounts(impersonating, fake):
    client, _ = await impersonating(service_account_key(fake))
    token = (await (await client.get(TOKEN, headers=FLAVOR)).json())["access_token"]
    assert fake.issued[token] == f"serviceAccount:{APP}"
    assert fake.calls["generateAccessToken"] == 1


async def test_impersonated_adc_target_becomes_default(impersonating, fake):
    client, _ = await impersonating(impersonated(authorized_user(), (RELAY,)), accounts="")
    email = await (await client.get(TOKEN.replace("token", "email"), headers=FLAVOR)).text()
    assert email == TARGET
    token = (await (await client.get(TOKEN, headers=FLAVOR)).json())["access_token"]
    assert fake.issued[token] == f"serviceAccount:{TARGET}"
    assert fake.requests[0]["delegates"] == [f"projects/-/serviceAccounts/{RELAY}"]


async def test_external_account_adc(impersonating, fake, tmp_path):
    client, _ = await impersonating(external_account(fake, tmp_path))
    token = (await (await client.get(TOKEN, headers=FLAVOR)).json())["access_token"]
    assert fake.issued[token] == f"serviceAccount:{APP}"
    assert fake.calls["sts"] == 1


def test_adc_is_found_in_gcloud_folder(start_emulator, fake, tmp_path):
    config, adc_path = setup(tmp_path, fake, authorized_user())
    gcloud = tmp_path / "gcloud"
    gcloud.mkdir()
    adc_path.rename(gcloud / "application_default_credentials.json")
    emulator = start_emulator("--config", str(config),
                              env=clean_env(CLOUDSDK_CONFIG=str(gcloud)))
    out = run_client([sys.executable, str(ROOT / "tests/clients/python_access_token.py")],
                     emulator.client_env())
    assert fake.issued[out.strip()] == f"serviceAccount:{APP}"


def test_mode_selection_and_startup_errors(tmp_path, fake):
    config, adc_path = setup(tmp_path, fake, authorized_user())
    env = clean_env()
    # impersonate without ADC: exit 2 with the command that fixes it
    done = subprocess.run([*CLI, "--config", str(config),
                           "--port", "0"], env=env, capture_output=True, text=True,
                          timeout=30, cwd=ROOT)
    assert done.returncode == 2
    assert "gcloud auth application-default login" in done.stderr
    # a broken ADC file: exit 2 naming it
    adc_path.write_text("{not json")
    done = subprocess.run([*CLI, "--config", str(config),
                           "--port", "0"], capture_output=True, text=True, timeout=30,
                          cwd=ROOT, env={**env, "GOOGLE_APPLICATION_CREDENTIALS": str(adc_path)})
    assert done.returncode == 2
    assert f"{adc_path}: not valid JSON" in done.stderr and "Traceback" not in done.stderr


async def test_auto_mode_chooses(make_client, fake, tmp_path):
    config, adc_path = setup(tmp_path, fake, authorized_user())
    auto = config.read_text().replace("credentials: impersonate", "credentials: auto")
    _, with_adc = await make_client(
        auto, environ={"GOOGLE_APPLICATION_CREDENTIALS": str(adc_path)})
    assert with_adc.tokens.mode == "impersonate"
    _, without = await make_client(auto)
    assert without.tokens.mode == "local"
    no_accounts = auto.split("service-accounts:")[0] + auto.split(f"{BATCH}\n")[1]
    _, unnamed = await make_client(
        no_accounts, environ={"GOOGLE_APPLICATION_CREDENTIALS": str(adc_path)})
    assert unnamed.tokens.mode == "local"


def test_doctor_reports_each_account_with_the_fix(tmp_path, fake):
    config, adc_path = setup(tmp_path, fake, authorized_user())
    done = subprocess.run([*CLI, "doctor", "--config", str(config)],
                          env=clean_env(GOOGLE_APPLICATION_CREDENTIALS=str(adc_path)),
                          capture_output=True, text=True, timeout=60, cwd=ROOT)
    assert done.returncode == 1, done.stderr
    lines = done.stdout.splitlines()
    assert any("application default creds" in line and "PASS" in line and
               "authorized_user" in line for line in lines)
    assert any(line.strip().startswith(APP) and " PASS " in line for line in lines)
    assert any(line.strip().startswith(BATCH) and " FAIL " in line for line in lines)
    assert (f"fix:  gcloud iam service-accounts add-iam-policy-binding {BATCH}"
            in done.stdout)
    assert "1 failed" in lines[-1]
    assert "ya29" not in done.stdout  # no token is ever printed


def test_doctor_without_adc(tmp_path, fake):
    config, _ = setup(tmp_path, fake, authorized_user())
    done = subprocess.run([*CLI, "doctor", "--config", str(config)],
                          env=clean_env(), capture_output=True, text=True, timeout=60, cwd=ROOT)
    assert done.returncode == 1
    assert "FAIL" in done.stdout and "gcloud auth application-default login" in done.stdout


async def test_a_reload_during_a_fetch_makes_no_second_call(impersonating, fake, tmp_path):
    client, _ = await impersonating(authorized_user(), timeout="10s")
    fake.slow_next("generateAccessToken", 3.0)  # well under upstream-timeout
    first = asyncio.ensure_future(client.get(TOKEN, headers=FLAVOR))
    await asyncio.sleep(0.05)
    config = tmp_path / "config.yaml"
    config.write_text(config.read_text().replace("dev-vm", "dev-vm-2"))
    for _ in range(40):  # the config watch reloads while the fetch is in flight
        name = await client.get("/computeMetadata/v1/instance/name", headers=FLAVOR)
        if await name.read() == b"dev-vm-2":
            break
        await asyncio.sleep(0.05)
    assert not first.done()
    second = await client.get(TOKEN, headers=FLAVOR)
    assert (await (await first).json())["access_token"] == (await second.json())["access_token"]
    assert fake.calls["generateAccessToken"] == 1
