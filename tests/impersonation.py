"""Impersonation against the fake Google: the accounts, ADC files of each type, and a config
pointing the emulator at the fake. Shared by the token tests (fixtures are in conftest.py)."""

from __future__ import annotations

import json
from pathlib import Path

from tests import fake_google
from tests.conftest import clean_env
from tests.fake_google import FakeGoogle

APP = "app@acme-dev.iam.gserviceaccount.com"
BATCH = "batch@acme-dev.iam.gserviceaccount.com"
RELAY = "relay@acme-dev.iam.gserviceaccount.com"
TARGET = "target@acme-dev.iam.gserviceaccount.com"
KEY_SA = "key-sa@acme-dev.iam.gserviceaccount.com"
AUDIENCE = "https://svc-xyz.run.app"
TOKEN = "/computeMetadata/v1/instance/service-accounts/default/token"


def authorized_user(refresh_token: str = fake_google.REFRESH_TOKEN) -> dict:
    return {"type": "authorized_user", "client_id": fake_google.CLIENT_ID,
            "client_secret": fake_google.CLIENT_SECRET, "refresh_token": refresh_token,
            "quota_project_id": "acme-dev"}


def service_account_key(fake: FakeGoogle) -> dict:
    private, public = fake_google.new_key()
    fake.sa_keys[KEY_SA] = public
    return {"type": "service_account", "project_id": "acme-dev", "private_key_id": "k1",
            "private_key": private, "client_email": KEY_SA, "client_id": "1",
            "token_uri": fake.url + "/token"}


def impersonated(source: dict, delegates: tuple[str, ...] = ()) -> dict:
    return {"type": "impersonated_service_account", "source_credentials": source,
            "delegates": [f"projects/-/serviceAccounts/{d}" for d in delegates],
            "service_account_impersonation_url": "https://iamcredentials.googleapis.com/v1/"
            f"projects/-/serviceAccounts/{TARGET}:generateAccessToken"}


def external_account(fake: FakeGoogle, folder: Path) -> dict:
    subject = folder / "subject-token.txt"
    subject.write_text(fake_google.SUBJECT_TOKEN)
    return {"type": "external_account",
            "audience": "//iam.googleapis.com/projects/123456789012/locations/global/"
                        "workloadIdentityPools/ci/providers/github",
            "subject_token_type": "urn:ietf:params:oauth:token-type:jwt",
            "token_url": fake.url + "/v1/token", "credential_source": {"file": str(subject)}}


def setup(tmp_path: Path, fake: FakeGoogle, adc: dict, accounts: str | None = None,
          emulator: str = "", timeout: str = "5s") -> tuple[Path, Path]:
    """(config, ADC file) for an impersonating emulator against the fake Google."""
    adc_path = tmp_path / "adc.json"
    adc_path.write_text(json.dumps(adc))
    if accounts is None:
        accounts = (f"service-accounts:\n  - email: {APP}\n  - email: {BATCH}\n")
    config = tmp_path / "config.yaml"
    config.write_text(
        "project:\n  project-id: acme-dev\n  numeric-project-id: 123456789012\n"
        "instance:\n  id: 10123456789012345678\n  name: dev-vm\n" + accounts +
        f"emulator:\n  credentials: impersonate\n  upstream-timeout: {timeout}\n"
        f"  endpoints:\n    iam-credentials: {fake.url}\n    oauth2-token: {fake.url}/token\n"
        + emulator)
    return config, adc_path


def start(start_emulator, config: Path, adc_path: Path, *flags: str):
    return start_emulator("--config", str(config), *flags,
                          env=clean_env(GOOGLE_APPLICATION_CREDENTIALS=str(adc_path)))
