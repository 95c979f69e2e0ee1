"""Tests of code that runs on Compute Engine, against the gce_metadata fixture: no patching,
the code under test asks the metadata server as it would on a VM.

    pip install gce-metadata-emulator pytest
    pytest examples/pytest/test_with_gce_metadata.py
"""

import os

import google.auth
import google.auth.transport.requests
import pytest
import requests

METADATA = "computeMetadata/v1"
FLAVOR = {"Metadata-Flavor": "Google"}


# -- the code under test: what an application does on a VM

def current_environment() -> str:
    """The deployment environment, from a project attribute."""
    host = os.environ.get("GCE_METADATA_HOST", "metadata.google.internal")
    url = f"http://{host}/{METADATA}/project/attributes/env"
    return requests.get(url, headers=FLAVOR, timeout=5).text


def wait_for_preemption(host: str) -> str:
    """Block until the VM is told it is preempted, as a shutdown handler does."""
    url = f"http://{host}/{METADATA}/instance/preempted"
    etag = requests.get(url, headers=FLAVOR, timeout=5).headers["ETag"]
    answer = requests.get(url, headers=FLAVOR, timeout=30,
                          params={"wait_for_change": "true", "last_etag": etag})
    return answer.text


def access_token() -> str:
    credentials, _ = google.auth.default()
    credentials.refresh(google.auth.transport.requests.Request())
    return credentials.token


# -- the tests

@pytest.mark.gce_metadata(config={"project": {"project-id": "shop-test",
                                              "attributes": {"env": "staging"}}})
def test_a_value_change_is_seen_by_the_code(gce_metadata):
    assert google.auth.default()[1] == "shop-test"
    assert current_environment() == "staging"
    gce_metadata.set("project/attributes/env", "production")
    assert current_environment() == "production"


def test_a_preemption_wakes_a_watcher(gce_metadata):
    gce_metadata.trigger("preemption", after="200ms")
    assert wait_for_preemption(gce_metadata.host) == "TRUE"


def test_a_token_fault_is_retried_by_google_auth(gce_metadata):
    gce_metadata.fail_next("token", status=503, count=2)
    token = access_token()  # google-auth retries the 503s
    assert token.startswith("ya29.")
    tokens = [r for r in gce_metadata.requests() if "/token" in r["path"]]
    assert [r["status"] for r in tokens] == [503, 503, 200]
    assert tokens[-1]["token"]["cached"] is False
    assert token not in str(gce_metadata.requests())  # the log never holds a token
