"""Upstream answers of any shape: malformed IAM and OAuth2 answers are 503s that are never
cached, errors quote upstream only after redacting credentials, a 404 says which endpoint is
wrong, and ADC files with wrong types stop the start with the file and the field."""

from __future__ import annotations

import json
import logging
import time

import pytest

from gce_metadata_emulator.cli import main
from gce_metadata_emulator.credentials.cache import Token, TokenCache
from gce_metadata_emulator.credentials.errors import TokenError
from gce_metadata_emulator.redact import redact
from tests import fake_google
from tests.conftest import FLAVOR
from tests.fake_google import rfc3339
from tests.impersonation import APP, AUDIENCE, TOKEN, authorized_user, impersonated, setup

IDENTITY = TOKEN.replace("token", f"identity?audience={AUDIENCE}")
HTML_502 = ("<!DOCTYPE html><html><head><title>Error 502 (Server Error)!!1</title></head>"
            "<body>" + "<p>The server encountered a temporary error.</p>" * 200 + "</body></html>")


async def get(client, path: str) -> tuple[int, str]:
    resp = await client.get(path, headers=FLAVOR)
    return resp.status, await resp.text()


@pytest.mark.parametrize(("answer", "words"), [
    ({"accessToken": {"nested": "object"}, "expireTime": rfc3339(time.time() + 3600)},
     "malformed token (dict)"),
    ({"accessToken": "ya29.ok", "expireTime": 1893456000}, "unexpected fields"),
    ({"accessToken": "ya29.ok", "expireTime": "2001-01-01T00:00:00Z"}, "in the past"),
    ({"accessToken": "ya29.ok"}, "unexpected fields (accessToken: str)"),
    ("{not json", "not JSON"),
    (["a", "list"], "not an object"),
])
async def test_a_malformed_iam_answer_is_a_503_retried_and_never_cached(
        impersonating, fake, answer, words):
    client, _ = await impersonating(authorized_user())
    fake.fail_next("generateAccessToken", 200, answer, times=3)
    status, body = await get(client, TOKEN)
    assert status == 503 and words in body, body
    assert "the client will retry" in body
    assert "ya29.ok" not in body
    assert fake.calls["generateAccessToken"] == 3, fake.calls  # retried as a passing fault
    status, body = await get(client, TOKEN)  # nothing was cached: the next call is answered
    assert status == 200, body
    assert fake.issued[json.loads(body)["access_token"]].endswith(APP)
    status, again = await get(client, TOKEN)
    # the same token (expires_in counts down, so the bodies may differ by a second)
    assert json.loads(again)["access_token"] == json.loads(body)["access_token"]
    assert fake.calls["generateAccessToken"] == 4, fake.calls  # the good one is cached


async def test_a_malformed_id_token_is_a_503(impersonating, fake):
    client, _ = await impersonating(authorized_user())
    fake.fail_next("generateIdToken", 200, {"token": 12}, times=3)
    status, body = await get(client, IDENTITY)
    assert status == 503 and "unexpected fields (token: int)" in body
    fake.fail_next("generateIdToken", 200, {"token": "not-a-jwt"}, times=3)
    status, body = await get(client, IDENTITY)
    assert status == 503 and "not a JWT" in body
    assert (await get(client, IDENTITY))[0] == 200


async def test_an_html_5xx_page_is_retried_and_quoted_by_its_title(impersonating, fake):
    client, _ = await impersonating(authorized_user())
    fake.fail_next("generateAccessToken", 502, HTML_502, times=3)
    status, body = await get(client, TOKEN)
    assert status == 503
    assert "an HTML page titled 'Error 502 (Server Error)!!1'" in body and "<p>" not in body
    assert fake.calls["generateAccessToken"] == 3


async def test_an_oauth2_5xx_html_page_is_a_503_not_a_403(impersonating, fake):
    client, _ = await impersonating(authorized_user())
    fake.fail_next("token", 502, HTML_502)
    status, body = await get(client, TOKEN)
    assert status == 503, body
    assert "HTTP 502" in body and "the client will retry" in body and "<p>" not in body
    assert (await get(client, TOKEN))[0] == 200  # the endpoint is back: served


async def test_a_wrong_token_endpoint_says_which_setting(impersonating, fake):
    client, _ = await impersonating(authorized_user())
    fake.fail_next("token", 404, "<html><title>404 Not Found</title></html>")
    status, body = await get(client, TOKEN)
    assert status == 403 and "emulator.endpoints.oauth2-token" in body


async def test_iam_404_tells_a_missing_account_from_a_wrong_endpoint(impersonating, fake):
    client, _ = await impersonating(authorized_user())
    fake.fail_next("generateAccessToken", 404, {"error": {
        "code": 404, "status": "NOT_FOUND",
        "message": f"Not found; Gaia id not found for email {APP}"}})
    status, body = await get(client, TOKEN)
    assert status == 403 and f"The service account {APP} does not exist" in body
    assert "Token Creator" not in body
    fake.fail_next("generateAccessToken", 404, "<html><title>Not Found</title></html>")
    status, body = await get(client, TOKEN)
    assert status == 403 and "check emulator.endpoints.iam-credentials" in body
    assert "Token Creator" not in body


async def test_upstream_errors_are_redacted(impersonating, fake, caplog):
    """An upstream that echoes the request must not leak the caller's tokens."""
    client, _ = await impersonating(authorized_user())
    await get(client, "/computeMetadata/v1/project/project-id")
    echo = ("Request was: Authorization: Bearer ya29.fake-1-dev@example.com; body "
            "refresh_token=1//fake-refresh-token&client_secret=fake-client-secret; signed "
            "eyJhbGciOiJSUzI1NiJ9.eyJzdWIiOiIxMjMifQ.c2lnbmF0dXJl and key "
            "-----BEGIN PRIVATE KEY-----\nMIIEvQIBADANBg\n-----END PRIVATE KEY-----")
    fake.fail_next("generateAccessToken", 403, {"error": {
        "code": 403, "status": "PERMISSION_DENIED", "message": echo}})
    with caplog.at_level(logging.DEBUG):
        status, body = await get(client, TOKEN)
    assert status == 403
    logged = "\n".join(r.getMessage() for r in caplog.records)
    for secret in ("ya29.fake", "1//fake-refresh-token", "fake-client-secret",
                   "eyJhbGciOiJSUzI1NiJ9", "MIIEvQIBADANBg"):
        assert secret not in body and secret not in logged, secret
    assert "Bearer <redacted>" in body and "refresh_token=<redacted>" in body
    fake.fail_next("token", 400, {"error": "invalid_request", "error_description":
                                  "bad request: refresh_token=1//fake-refresh-token"})
    client2, _ = await impersonating(authorized_user())
    status, body = await get(client2, TOKEN)
    assert status == 403 and "1//fake-refresh-token" not in body and "<redacted>" in body


def test_redact_keeps_what_is_not_a_credential():
    said = "Permission 'iam.serviceAccounts.getAccessToken' denied on resource"
    assert redact(said) == said
    assert redact('{"code": 403, "token_type": "Bearer"}') == '{"code": 403, "token_type": ' \
        '"Bearer"}'


async def test_a_token_that_is_not_text_is_never_cached():
    cache = TokenCache(margin=300)

    async def bad() -> Token:
        return Token({"a": 1}, time.time() + 3600)

    for _ in range(2):
        with pytest.raises(TokenError) as caught:
            await cache.get("k", bad)
        assert caught.value.status == 503
    assert len(cache) == 0 and cache.fetches == 2


@pytest.mark.parametrize(("adc", "field"), [
    ({**impersonated(authorized_user()), "delegates": [1]}, "delegates[0]"),
    ({**impersonated(authorized_user()), "service_account_impersonation_url": 5},
     "service_account_impersonation_url"),
    ({**impersonated(authorized_user()), "source_credentials": "x"}, "source_credentials"),
    (impersonated({**authorized_user(), "client_id": 5}), "source_credentials.client_id"),
    ({**authorized_user(), "refresh_token": ["x"]}, "refresh_token"),
    ({**authorized_user(), "quota_project_id": 7}, "quota_project_id"),
    ({"type": "service_account", "client_email": "a@b.c", "private_key": "not a key"},
     "google-auth cannot load"),
    ({"type": 3}, "type"),
    ([1, 2], "expected a JSON object"),
])
def test_adc_with_wrong_types_exits_2_naming_file_and_field(tmp_path, fake, capsys, monkeypatch,
                                                            adc, field):
    config, adc_path = setup(tmp_path, fake, authorized_user())
    adc_path.write_text(json.dumps(adc))
    monkeypatch.setenv("GOOGLE_APPLICATION_CREDENTIALS", str(adc_path))
    monkeypatch.setenv("CLOUDSDK_CONFIG", str(tmp_path))
    assert main(["serve", "--config", str(config), "--port", "0"]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and str(adc_path) in err and field in err, err
    assert fake_google.CLIENT_SECRET not in err
