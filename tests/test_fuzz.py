"""Property-based fuzzing (Hypothesis), bounded to well under a minute: random methods, paths,
query strings, headers and admin bodies against a served emulator, and random config
documents through the config loader and every view of the tree they give.

Asserted: never a 5xx, no traceback or error in the log, and afterwards the server is alive
and serves the same tree (once the run-time changes the fuzzing made are reset).
"""

from __future__ import annotations

import contextlib
import datetime
import http.client
import json
import logging
import string
import urllib.parse
from collections.abc import Iterator
from pathlib import Path

import pytest
import yaml
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from gce_metadata_emulator import config
from gce_metadata_emulator.background import Background
from gce_metadata_emulator.config import ConfigError, parse
from gce_metadata_emulator.defaults import build_tree
from gce_metadata_emulator.tree import BadQuery, Snapshot, children, is_dir
from tests.conftest import EMPTY_GCLOUD, EXAMPLE

NAMES = ["computeMetadata", "v1", "instance", "project", "universe", "attributes",
         "service-accounts", "default", "app@acme-dev.iam.gserviceaccount.com", "token",
         "identity", "email", "scopes", "aliases", "network-interfaces", "0", "1", "01",
         "access-configs", "disks", "tags", "guest-attributes", "hostkeys", "zone", "id",
         "project-id", "emulator", "v1beta1", "", ".", "..", "%2F", "%00", "%ZZ", "ü", "🙂",
         "a" * 300]
PARAMS = ["recursive", "alt", "wait_for_change", "last_etag", "timeout_sec", "audience",
          "format", "licenses", "scopes", "transport", "x"]
VALUES = ["true", "false", "TRUE", "maybe", "json", "text", "xml", "0", "1", "-1", "3600",
          "3601", "١٢", "²", "9" * 50, "", "full", "standard", "https://svc.run.app",
          "a,b", "%", "%FF", "🙂"]
HEADER_NAMES = ["Metadata-Flavor", "X-Forwarded-For", "Host", "Content-Type",
                "Content-Encoding", "Accept", "X-Google-Metadata-Request", "Transfer-Encoding"]
HEADER_VALUES = ["Google", "google", "", "127.0.0.1", "evil.example", "application/json",
                 "gzip", "br", "identity", "chunked", "True", "x" * 200]
METHODS = ["GET", "HEAD", "PUT", "DELETE", "POST", "PATCH", "OPTIONS"]

text_segment = st.one_of(st.sampled_from(NAMES),
                         st.text(string.ascii_letters + string.digits + "-_.~%:@", max_size=12))
json_values = st.recursive(
    st.one_of(st.none(), st.booleans(), st.integers(min_value=-(2**70), max_value=2**70),
              st.floats(allow_nan=False, allow_infinity=False), st.text(max_size=20)),
    lambda inner: st.one_of(st.lists(inner, max_size=4),
                            st.dictionaries(st.text(max_size=8), inner, max_size=4)),
    max_leaves=12)


@st.composite
def requests(draw) -> tuple[str, str, dict[str, str], bytes]:
    admin = draw(st.booleans()) and draw(st.booleans())
    segments = draw(st.lists(text_segment, max_size=7))
    prefix = "/emulator/v1/metadata/" if admin else draw(
        st.sampled_from(["/computeMetadata/v1/", "/", "/computeMetadata/", "/emulator/"]))
    path = prefix + "/".join(segments) + draw(st.sampled_from(["", "/"]))
    query = "&".join(f"{draw(st.sampled_from(PARAMS))}={draw(st.sampled_from(VALUES))}"
                     for _ in range(draw(st.integers(0, 4))))
    if "wait_for_change" in query:
        query += "&timeout_sec=0"  # a wait is allowed to hang; the fuzz run is not
    headers = {"Metadata-Flavor": "Google"} if draw(st.booleans()) else {}
    for _ in range(draw(st.integers(0, 3))):
        headers[draw(st.sampled_from(HEADER_NAMES))] = draw(st.sampled_from(HEADER_VALUES))
    headers.pop("Transfer-Encoding", None)  # http.client frames the body itself
    method = draw(st.sampled_from(METHODS))
    body = b""
    if method in ("PUT", "POST", "PATCH"):
        if draw(st.booleans()):
            body = json.dumps(draw(json_values)).encode()
            headers["Content-Type"] = "application/json"
        else:
            body = draw(st.binary(max_size=64))
    return method, path + (f"?{query}" if query else ""), headers, body


@pytest.fixture(scope="module")
def served(tmp_path_factory) -> Iterator[tuple[Background, list[logging.LogRecord]]]:
    path = Path(tmp_path_factory.mktemp("fuzz")) / "config.yaml"
    path.write_text(EXAMPLE.read_text())
    records: list[logging.LogRecord] = []
    handler = logging.Handler()
    handler.emit = records.append
    root = logging.getLogger()
    root.addHandler(handler)
    environ = {"CLOUDSDK_CONFIG": EMPTY_GCLOUD}
    with Background(lambda: config.load(path, environ=environ), environ) as background:
        yield background, records
    root.removeHandler(handler)


def send(background: Background, method: str, target: str, headers: dict[str, str],
         body: bytes) -> tuple[int, bytes]:
    conn = http.client.HTTPConnection("127.0.0.1", background.port, timeout=10)
    try:
        target = urllib.parse.quote(target, safe=string.punctuation)  # non-ASCII only
        conn.putrequest(method, target, skip_host="Host" in headers,
                        skip_accept_encoding=True)
        for name, value in headers.items():
            conn.putheader(name, value)
        if body or method in ("PUT", "POST", "PATCH"):
            conn.putheader("Content-Length", str(len(body)))
        conn.endheaders(body or None)
        response = conn.getresponse()
        return response.status, response.read()
    finally:
        conn.close()


def whole_tree(background: Background) -> bytes:
    status, body = send(background, "GET", "/computeMetadata/v1/?recursive=true",
                        {"Metadata-Flavor": "Google"}, b"")
    assert status == 200
    return body


def test_random_requests_never_get_a_5xx(served):
    background, records = served
    before = whole_tree(background)

    @settings(max_examples=1500, deadline=None, database=None,
              suppress_health_check=list(HealthCheck))
    @given(requests())
    def one(request) -> None:
        status, body = send(background, *request)
        assert status < 500, (request, status, body[:300])

    one()
    assert send(background, "DELETE", "/emulator/v1/overrides", {}, b"")[0] == 200
    assert whole_tree(background) == before  # alive, and the same tree
    bad = [r for r in records if r.exc_info or r.levelno >= logging.ERROR]
    assert not bad, [r.getMessage() for r in bad]


# ---- config documents ----------------------------------------------------------------------

KEYS = ["project", "instance", "service-accounts", "universe", "emulator", "attributes",
        "project-id", "numeric-project-id", "id", "name", "zone", "machine-type", "tags",
        "scheduling", "network-interfaces", "disks", "email", "scopes", "delegates",
        "credentials", "token-lifetime", "allowed-hosts", "universe-domain", "guest-attributes",
        "a/b", "", "x"]
scalars = st.one_of(
    st.none(), st.booleans(), st.integers(min_value=-(2**80), max_value=2**80), st.floats(),
    st.text(max_size=16), st.dates(), st.datetimes(timezones=st.just(datetime.UTC)),
    st.binary(max_size=8), st.sampled_from(["acme-dev", "us-central1-a", "dev-vm",
                                            "a@b.iam.gserviceaccount.com", "3600s", "local"]))
documents = st.recursive(
    scalars,
    lambda inner: st.one_of(
        st.lists(inner, max_size=4),
        st.dictionaries(st.one_of(st.sampled_from(KEYS), st.integers(0, 3)), inner, max_size=5),
        st.frozensets(st.text(max_size=4), max_size=3).map(set)),
    max_leaves=25)


def every_render(snapshot: Snapshot) -> None:
    def walk(node, prefix: str) -> Iterator[str]:
        for name, value in children(node):
            if is_dir(value):
                yield prefix + name + "/"
                yield from walk(value, prefix + name + "/")
            else:
                yield prefix + name

    for path in ["/", *walk(snapshot.root, "/")]:
        for recursive in (False, True):
            for alt in (None, "json", "text"):
                with contextlib.suppress(BadQuery):
                    snapshot.render(path, recursive, alt)


@settings(max_examples=400, deadline=None, database=None,
          suppress_health_check=list(HealthCheck))
@given(st.one_of(documents.map(lambda doc: yaml.dump(doc, allow_unicode=True)),
                 st.dictionaries(st.sampled_from(["project", "instance", "emulator"]),
                                 documents, max_size=3).map(yaml.dump),
                 st.text(max_size=200)))
def test_random_config_documents_are_served_or_refused(text):
    try:
        settings_ = parse(text, "fuzz.yaml", environ={})
    except ConfigError as exc:
        assert str(exc).startswith("fuzz.yaml: ") and "\n" not in str(exc)
        return
    snapshot = Snapshot(build_tree(settings_))
    every_render(snapshot)
    json.loads(snapshot.render("/computeMetadata/v1/", True, None).body)  # strict JSON
