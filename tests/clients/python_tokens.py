"""Python google-auth finding the emulator as a VM's code does, and getting tokens from it.
argv[1]: an ID token audience. Prints what it got as JSON; any failure exits non-zero with
google-auth's own message on stderr."""

import json
import sys

import google.auth
import google.auth.transport.requests
from google.auth import compute_engine
from google.oauth2 import id_token

audience = sys.argv[1]
request = google.auth.transport.requests.Request()
credentials, project = google.auth.default()
credentials.refresh(request)
id_credentials = compute_engine.IDTokenCredentials(
    request, target_audience=audience, use_metadata_identity_endpoint=True)
id_credentials.refresh(request)
print(json.dumps({
    "credentials": type(credentials).__module__ + "." + type(credentials).__name__,
    "project": project,
    "service_account_email": credentials.service_account_email,
    "access_token": credentials.token,
    "expiry": credentials.expiry.isoformat(),
    "id_token": id_credentials.token,
    "fetched_id_token": id_token.fetch_id_token(request, audience),
}))
