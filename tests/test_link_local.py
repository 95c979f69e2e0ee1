"""`serve --link-local` at the real address, in a network and mount namespace of the test's
own: the documentation's samples (examples/app), two resource detectors and gcloud reach it
with no GCE_METADATA_* variable, and it leaves /etc/hosts and the addresses as it found them."""

from __future__ import annotations

import json
import re

import pytest

from gce_metadata_emulator.linklocal import ENTRY
from tests import namespace
from tests.conftest import EXAMPLE, ROOT

pytestmark = pytest.mark.skipif(namespace.unavailable() is not None,
                                reason=f"link-local tests: {namespace.unavailable()}")

SAMPLES = ROOT / "examples" / "app" / "samples.sh"
DETECTION = ROOT / "tests" / "clients" / "resource_detection.py"


@pytest.mark.parametrize("stop", ["TERM", "INT"])
def test_documentation_samples_detectors_and_gcloud_then_nothing_left(tmp_path, stop):
    done = namespace.run(rf"""
echo "before: $(addresses)"
start_link_local --config {EXAMPLE} || exit 1
echo "during: $(addresses)"
echo "hosts during: $(grep -c "^$ENTRY\$" /etc/hosts)"
{SAMPLES} || echo "samples failed: $?"
echo "detected: $(python3 {DETECTION})"
echo "gcloud: $(CLOUDSDK_CONFIG=$WORK/gcloud gcloud auth print-access-token | fingerprint)"
stop_emulator {stop}
echo "after: $(addresses)"
""", tmp_path, timeout=180, ENTRY=ENTRY)
    assert done.returncode == 0, done.stdout + done.stderr
    assert done.line("before:") == "before: 127.0.0.1/8 "
    assert done.line("during:") == "during: 127.0.0.1/8 169.254.169.254/32 "
    assert done.line("hosts during:") == "hosts during: 1"
    # The same local token, cached, whichever way it was asked for.
    curl = re.fullmatch(r"curl: access token (sha256:[0-9a-f]{16}), expires_in (\d+), "
                        r"token_type Bearer", done.line("curl: "))
    assert curl and 3500 < int(curl.group(2)) < 3600, done.line("curl: ")
    token = curl.group(1)
    assert done.line("requests: ") == f"requests: access token {token}"
    assert done.line("google.auth.default: ") == (
        "google.auth.default: project acme-dev, google.auth.compute_engine.credentials."
        f"Credentials, access token {token}, account app@acme-dev.iam.gserviceaccount.com")
    assert done.line("fetch_id_token: ").startswith(
        "fetch_id_token: aud https://example.run.app, email app@acme-dev.iam.gserviceaccount.com,"
        " iss https://accounts.google.com, token sha256:")
    assert "all samples passed" in done.stdout
    assert done.line("gcloud: ") == f"gcloud: {token}"
    detected = json.loads(done.line("detected: ").removeprefix("detected: "))
    # google-cloud-logging passes instance/zone through as the server sends it
    assert detected["logging"] == {"type": "gce_instance", "labels": {
        "project_id": "acme-dev", "instance_id": "10123456789012345678",
        "zone": "projects/123456789012/zones/us-central1-a"}}
    otel = detected["otel"]
    assert (otel["cloud.platform"], otel["cloud.account.id"], otel["host.id"],
            otel["cloud.availability_zone"]) == (
        "gcp_compute_engine", "acme-dev", "10123456789012345678", "us-central1-a")
    assert done.line("emulator exit:") == "emulator exit: 0"
    assert done.line("after:") == "after: 127.0.0.1/8 "
    assert done.hosts_after == namespace.HOSTS


def test_what_it_found_stays(tmp_path):
    """An address and a hosts line already there (the manual setup) are used and kept."""
    hosts = f"{namespace.HOSTS}{ENTRY}\n"
    done = namespace.run("""
ip addr add 169.254.169.254/32 dev lo
start_link_local || exit 1
md metadata.google.internal./computeMetadata/v1/project/project-id
stop_emulator TERM
echo "after: $(addresses)"
cat "$WORK/emulator.out"
""", tmp_path, hosts=hosts)
    assert done.returncode == 0, done.stdout + done.stderr
    assert "emulator-project\n" in done.stdout
    assert done.line("after:") == "after: 127.0.0.1/8 169.254.169.254/32 "
    assert done.hosts_after == hosts
    assert "added 169.254.169.254" not in done.stdout and "resolve to" not in done.stdout


def test_a_name_mapped_elsewhere_is_shadowed_then_restored(tmp_path):
    """The old recipe's `127.0.0.1 metadata.google.internal` loses to the block, which goes
    on top (the first match wins), and comes back untouched."""
    hosts = "127.0.0.1 localhost metadata.google.internal\n"
    done = namespace.run("""
start_link_local || exit 1
getent ahostsv4 metadata.google.internal | head -1 | awk '{print "resolved:", $1}'
md metadata.google.internal/computeMetadata/v1/project/project-id
stop_emulator TERM
""", tmp_path, hosts=hosts)
    assert done.returncode == 0, done.stdout + done.stderr
    assert done.line("resolved:") == "resolved: 169.254.169.254"  # the first address
    assert "emulator-project\n" in done.stdout
    assert done.hosts_after == hosts


def test_refuses_on_a_google_cloud_vm(tmp_path):
    done = namespace.run("""
mount -t tmpfs tmpfs /sys/class && mkdir -p /sys/class/dmi/id
echo 'Google Compute Engine' > /sys/class/dmi/id/product_name
gce-metadata-emulator serve --link-local; echo "exit: $?"
echo "after: $(addresses)"
""", tmp_path)
    assert done.line("exit:") == "exit: 2"
    assert "this machine is a Google Cloud VM" in done.stderr
    assert "'Google Compute Engine'" in done.stderr and "Traceback" not in done.stderr
    assert done.line("after:") == "after: 127.0.0.1/8 "
    assert done.hosts_after == namespace.HOSTS


def test_refuses_where_a_metadata_server_answers(tmp_path):
    server = ("import http.server as h\n"
              "class H(h.BaseHTTPRequestHandler):\n"
              "    def do_GET(self):\n"
              "        self.send_response(200); self.send_header('Metadata-Flavor', 'Google')\n"
              "        self.end_headers()\n"
              "h.HTTPServer(('169.254.169.254', 80), H).serve_forever()\n")
    done = namespace.run(f"""
ip addr add 169.254.169.254/32 dev lo
python3 -c "{server}" > /dev/null 2>&1 & SERVER=$!; sleep 0.5
gce-metadata-emulator serve --link-local; echo "exit: $?"
kill $SERVER
""", tmp_path)
    assert done.line("exit:") == "exit: 2"
    assert "a metadata server already answers at 169.254.169.254:80" in done.stderr
    assert done.hosts_after == namespace.HOSTS


def test_without_root_it_prints_the_steps_and_changes_nothing(tmp_path):
    done = namespace.run("""
chmod a+r "$WORK" /etc/hosts
CLOUDSDK_CONFIG=/nonexistent setpriv --reuid=65534 --regid=65534 --clear-groups \
  --inh-caps=-all gce-metadata-emulator serve --link-local; echo "exit: $?"
echo "after: $(addresses)"
""", tmp_path)
    assert done.line("exit:") == "exit: 2", done.stderr
    err = done.stderr
    assert "--link-local needs root" in err and "Traceback" not in err
    for step in ("sudo ip addr add 169.254.169.254/32 dev lo",
                 "echo '169.254.169.254 metadata.google.internal metadata.google.internal.' | "
                 "sudo tee -a /etc/hosts",
                 "sudo ip addr del 169.254.169.254/32 dev lo"):
        assert step in err
    assert done.line("after:") == "after: 127.0.0.1/8 "
    assert done.hosts_after == namespace.HOSTS


def test_the_printed_manual_steps_work(tmp_path):
    """The fallback README gives: the two steps by hand, then serve at the address."""
    done = namespace.run(f"""
ip addr add 169.254.169.254/32 dev lo
echo '169.254.169.254 metadata.google.internal metadata.google.internal.' | tee -a /etc/hosts
gce-metadata-emulator serve --host 169.254.169.254 --port 80 > "$WORK/emulator.out" 2>&1 &
EMU=$!
for _ in $(seq 100); do gce-metadata-emulator health --host 169.254.169.254 --port 80 \
  2>/dev/null && break; sleep 0.1; done
{SAMPLES}
stop_emulator TERM
""", tmp_path)
    assert "all samples passed" in done.stdout, done.stdout + done.stderr
    assert done.line("emulator exit:") == "emulator exit: 0"
