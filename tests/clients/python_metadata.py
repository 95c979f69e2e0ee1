"""Python google-auth's metadata module against the emulator: detection, project, recursive
directory, universe domain, service account info."""

import json

import google.auth.transport.requests
from google.auth.compute_engine import _metadata

request = google.auth.transport.requests.Request()
out = {
    "ping": _metadata.ping(request),
    "is_on_gce": _metadata.is_on_gce(request),
    "project_id": _metadata.get_project_id(request),
    "numeric_project_id": _metadata.get(request, "project/numeric-project-id"),
    "zone": _metadata.get(request, "instance/zone"),
    "role": _metadata.get(request, "instance/attributes/role"),
    "instance": _metadata.get(request, "instance/", recursive=True),
    "universe_domain": _metadata.get_universe_domain(request),
    "account": _metadata.get_service_account_info(request),
}
print(json.dumps(out))
