"""A service under test: fetch an ID token from the metadata server the way google-auth
does, then verify it against the emulator's published keys. argv: audience, certs URL."""

import json
import sys

import google.auth.transport.requests
from google.auth import compute_engine
from google.oauth2 import id_token

audience, certs_url = sys.argv[1], sys.argv[2]
request = google.auth.transport.requests.Request()
credentials = compute_engine.IDTokenCredentials(
    request, target_audience=audience, use_metadata_identity_endpoint=True)
credentials.refresh(request)
claims = id_token.verify_token(credentials.token, request, audience=audience,
                               certs_url=certs_url)
print(json.dumps(claims))
