"""Config: the documented keys, the defaults derived from them, and errors that say where."""

from __future__ import annotations

import pytest

from gce_metadata_emulator.config import PLACEHOLDER_PROJECT, ConfigError, load, parse
from gce_metadata_emulator.defaults import build_tree
from gce_metadata_emulator.tree import Snapshot
from tests.conftest import EXAMPLE


def tree_of(text: str, **kwargs) -> Snapshot:
    return Snapshot(build_tree(parse(text, "test.yaml", environ={}, **kwargs)))


def value(snapshot: Snapshot, path: str) -> bytes:
    return snapshot.render("/computeMetadata/v1/" + path, False, None).body


@pytest.mark.parametrize(("text", "where", "what"), [
    ("instnce: {}", "test.yaml: instnce:", "unknown key"),
    ("instance: [1]", "test.yaml: instance:", "expected a mapping"),
    ("instance:\n  zone: 12", "instance.zone", "not a zone name"),
    ("instance:\n  zone: moon-base", "instance.zone", "not a zone name"),
    ("instance:\n  id: -1", "instance.id", "whole number"),
    ("instance:\n  id: 18446744073709551616", "instance.id", "whole number"),
    ("instance:\n  name: Dev_VM", "instance.name", "not a valid instance name"),
    ("instance:\n  attributes:\n    a: {b: c}", "instance.attributes.a", "attribute values"),
    ("instance:\n  service-accounts: []", "instance.service-accounts", "top-level"),
    ("project:\n  project-id: X", "project.project-id", "not a project id"),
    ("project:\n  numeric-project-id: abc", "project.numeric-project-id", "whole number"),
    ("service-accounts: app", "service-accounts:", "expected a list"),
    ("service-accounts:\n  - scopes: []", "service-accounts[0]:", "missing email"),
    ("service-accounts:\n  - email: nobody", "service-accounts[0].email", "not an email"),
    ("service-accounts:\n  - {email: a@b.com, role: x}", "service-accounts[0].role", "unknown"),
    ("service-accounts: [a@b.com, a@b.com]", "service-accounts[1].email", "listed twice"),
    ("emulator:\n  credentials: magic", "emulator.credentials", "auto, impersonate, local"),
    ("emulator:\n  token-lifetime: 1h", "emulator.token-lifetime", "duration like 3600s"),
    ("emulator:\n  endpoints:\n    iam: x", "emulator.endpoints.iam", "unknown endpoint"),
    ("emulator:\n  endpoints:\n    oauth2-token: ftp://x", "emulator.endpoints.oauth2-token",
     "http(s) URL"),
    ("project: {project-id: acme-dev\n", "line 2", "not valid YAML"),
])
def test_errors_name_the_file_and_key(text, where, what):
    with pytest.raises(ConfigError) as caught:
        parse(text, "test.yaml", environ={})
    message = str(caught.value)
    assert message.startswith("test.yaml: ")
    assert where in message and what in message


def test_unreadable_file(tmp_path):
    with pytest.raises(ConfigError, match="no such file"):
        load(tmp_path / "missing.yaml", environ={})


def test_empty_file_is_the_defaults():
    snap = tree_of("")
    assert value(snap, "project/project-id") == PLACEHOLDER_PROJECT.encode()
    assert value(snap, "instance/name") == b"emulated-vm"
    assert value(snap, "instance/hostname") == (
        f"emulated-vm.us-central1-a.c.{PLACEHOLDER_PROJECT}.internal".encode())
    number = value(snap, "project/numeric-project-id")
    assert number.isdigit() and len(number) == 12
    assert value(snap, "instance/service-accounts/default/email") == (
        number + b"-compute@developer.gserviceaccount.com")
    assert value(snap, "instance/id").isdigit()


def test_project_from_environment(tmp_path):
    assert parse("", "t", environ={"GOOGLE_CLOUD_PROJECT": "env-proj-1"}).project_id == \
        "env-proj-1"
    assert parse("", "t", environ={"CLOUDSDK_CORE_PROJECT": "sdk-proj-1"}).project_id == \
        "sdk-proj-1"
    gcloud = tmp_path / "gcloud"
    (gcloud / "configurations").mkdir(parents=True)
    (gcloud / "active_config").write_text("work\n")
    (gcloud / "configurations" / "config_work").write_text("[core]\nproject = gcloud-proj\n")
    settings = parse("", "t", environ={"CLOUDSDK_CONFIG": str(gcloud)})
    assert (settings.project_id, settings.project_id_from) == (
        "gcloud-proj", "gcloud configuration 'work'")
    assert parse("project:\n  project-id: file-proj\n", "t",
                 environ={"GOOGLE_CLOUD_PROJECT": "env-proj-1"}).project_id == "file-proj"
    assert parse("project:\n  project-id: file-proj\n", "t", project="flag-proj",
                 environ={}).project_id == "flag-proj"


def test_example_config_and_wire_keys():
    snap = Snapshot(build_tree(parse(EXAMPLE.read_text(), "example", environ={})))
    assert value(snap, "instance/zone") == b"projects/123456789012/zones/us-central1-a"
    assert value(snap, "instance/scheduling/automatic-restart") == b"TRUE"  # merged default
    full = tree_of("instance:\n  zone: projects/9/zones/europe-west1-b\n"
                   "  machine-type: projects/9/machineTypes/n2-standard-4\n"
                   "  scheduling: {preemptible: true}\n  maintenance-event: "
                   "MIGRATE_ON_HOST_MAINTENANCE\n  network-interfaces:\n    - ip: 10.0.0.7\n"
                   "      forwarded-ips: [10.0.0.8]\n  cpu-platform: AMD Rome\n")
    assert value(full, "instance/zone").endswith(b"/zones/europe-west1-b")
    assert value(full, "instance/machine-type").endswith(b"/machineTypes/n2-standard-4")
    assert value(full, "instance/scheduling/preemptible") == b"TRUE"
    assert value(full, "instance/maintenance-event") == b"MIGRATE_ON_HOST_MAINTENANCE"
    assert value(full, "instance/network-interfaces/0/") == b"forwarded-ips/\nip\n"
    assert value(full, "instance/network-interfaces/0/forwarded-ips/0") == b"10.0.0.8"
    assert value(full, "instance/cpu-platform") == b"AMD Rome"


def test_service_account_flag_becomes_default():
    snap = tree_of(EXAMPLE.read_text(), service_account="other@acme-dev.iam.gserviceaccount.com")
    assert value(snap, "instance/service-accounts/default/email") == \
        b"other@acme-dev.iam.gserviceaccount.com"
    assert b"app@acme-dev.iam.gserviceaccount.com/" in value(snap, "instance/service-accounts/")
