#!/bin/sh
# The documentation's curl command, exactly as published (its JSON answer goes to samples.py,
# which prints a fingerprint of the token rather than the token), then the Python samples.
set -eu
here=$(dirname "$0")
curl "http://metadata.google.internal/computeMetadata/v1/instance/service-accounts/default/token" \
  -H "Metadata-Flavor: Google" | python3 "$here/samples.py" --curl-output
exec python3 "$here/samples.py"
