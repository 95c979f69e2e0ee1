"""The Compute Engine documentation's Python samples, as published: they dial
metadata.google.internal (and google-auth 169.254.169.254) with no GCE_METADATA_* variable.

Run beside an emulator at the real address (the compose demo, or `serve --link-local`). Each
sample prints one line; tokens are shown as a fingerprint, never whole. Exit 0 when all pass.
"""

import hashlib
import json
import os
import sys

import google.auth
import google.auth.jwt
import google.auth.transport.requests
import google.oauth2.id_token
import requests

AUDIENCE = os.environ.get("SAMPLE_AUDIENCE", "https://example.run.app")


def fingerprint(token: str) -> str:
    return "sha256:" + hashlib.sha256(token.encode()).hexdigest()[:16]


# -- The documentation's `requests` sample: an access token straight from the server.
METADATA_URL = "http://metadata.google.internal/computeMetadata/v1/"
METADATA_HEADERS = {"Metadata-Flavor": "Google"}
SERVICE_ACCOUNT = "default"


def get_access_token():
    url = f"{METADATA_URL}instance/service-accounts/{SERVICE_ACCOUNT}/token"
    r = requests.get(url, headers=METADATA_HEADERS)
    r.raise_for_status()
    return r.json()["access_token"]


def curl_output() -> None:
    """The curl command's JSON answer, read from stdin (samples.sh pipes it in)."""
    answer = json.load(sys.stdin)
    assert set(answer) == {"access_token", "expires_in", "token_type"}, answer
    print(f"curl: access token {fingerprint(answer['access_token'])}, "
          f"expires_in {answer['expires_in']}, token_type {answer['token_type']}")


def main() -> None:
    print(f"requests: access token {fingerprint(get_access_token())}")

    # -- Application Default Credentials: on Compute Engine they come from the server.
    credentials, project = google.auth.default()
    request = google.auth.transport.requests.Request()
    credentials.refresh(request)
    print(f"google.auth.default: project {project}, {type(credentials).__module__}."
          f"{type(credentials).__name__}, access token {fingerprint(credentials.token)}, "
          f"account {credentials.service_account_email}")

    # -- An ID token for an audience (e.g. to call a Cloud Run service).
    id_token = google.oauth2.id_token.fetch_id_token(request, AUDIENCE)
    claims = google.auth.jwt.decode(id_token, verify=False)
    print(f"fetch_id_token: aud {claims['aud']}, email {claims.get('email')}, "
          f"iss {claims['iss']}, token {fingerprint(id_token)}")
    print("all samples passed")


if __name__ == "__main__":
    curl_output() if sys.argv[1:] == ["--curl-output"] else main()
