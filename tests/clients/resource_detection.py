"""Resource detection of two libraries that dial the real name literally, unchanged:
google-cloud-logging (metadata.google.internal. with the trailing dot) and OpenTelemetry's
GCP resource detector (metadata.google.internal). Prints one JSON object."""

import json

from google.cloud.logging_v2.handlers._monitored_resources import detect_resource
from opentelemetry.resourcedetector.gcp_resource_detector import GoogleCloudResourceDetector

logging_resource = detect_resource()
otel = GoogleCloudResourceDetector(raise_on_error=True).detect()
print(json.dumps({
    "logging": {"type": logging_resource.type, "labels": logging_resource.labels},
    "otel": {k: v for k, v in otel.attributes.items() if isinstance(v, str)},
}))
