# The sample of the Compute Engine docs ("Authenticate workloads using service accounts"),
# unchanged. The test points the Storage client at a fake Storage endpoint with
# API_ENDPOINT_OVERRIDE; credentials come from the metadata server, i.e. the emulator.
from google.cloud import storage


def create_client():
    storage_client = storage.Client()
    buckets = storage_client.list_buckets()
    for bucket in buckets:
        print(bucket.name)


create_client()
