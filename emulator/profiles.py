"""Platform profiles: the metadata server of a Compute Engine VM, of a GKE pod (Workload
Identity's GKE metadata server) and of a Cloud Run container.

A profile is a description, not a second server: which part of the one tree is served, what
it adds, the `Server` header, the content type of `identity`, the flavor rule and the shape of
its refusals, and the variables a workload of that platform sees (`exec` sets them). README.md,
"Platform profiles", gives the source of each difference.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass, field
from typing import Any

NAMES = ("gce", "gke", "cloud-run")


@dataclass(frozen=True)
class Profile:
    name: str
    server: str
    identity_type: str
    # Paths below computeMetadata/v1/ served by default (None: the whole GCE tree); what the
    # config names explicitly is served as well.
    serves: tuple[str, ...] | None = None
    flavor_on_root: bool = False  # the Metadata-Flavor header is required on / too
    guest_attributes: bool = True
    forbidden_has_flavor: bool = True  # the 403 carries Metadata-Flavor: Google
    plain_errors: bool = False  # 403/404 as one line of text/plain (a Go server), not HTML
    environment: dict[str, str] = field(default_factory=dict)


# identity is "text/html" exactly: Ruby googleauth compares the Content-Type whole
GCE = Profile("gce", "Metadata Server for VM", "text/html")
GKE = Profile(
    "gke", "GKE Metadata Server", "application/text",
    serves=("instance/attributes/cluster-location", "instance/attributes/cluster-name",
            "instance/attributes/cluster-uid", "instance/hostname", "instance/id",
            "instance/service-accounts", "instance/zone", "project/numeric-project-id",
            "project/project-id", "universe/universe-domain"),
    flavor_on_root=True, guest_attributes=False, plain_errors=True,
    environment={"KUBERNETES_SERVICE_HOST": "10.0.0.1", "KUBERNETES_SERVICE_PORT": "443"})
CLOUD_RUN = Profile(
    "cloud-run", "Metadata Server for Serverless", "application/text",
    serves=("instance/id", "instance/region", "instance/service-accounts", "instance/zone",
            "project/numeric-project-id", "project/project-id", "universe/universe-domain"),
    guest_attributes=False, forbidden_has_flavor=False,
    # in order: later values may name earlier ones, e.g. a K_SERVICE the caller set
    environment={"K_SERVICE": "emulated-service", "K_REVISION": "{K_SERVICE}-00001-emu",
                 "K_CONFIGURATION": "{K_SERVICE}", "PORT": "8080"})
PROFILES = {p.name: p for p in (GCE, GKE, CLOUD_RUN)}

GKE_FORBIDDEN = ('GKE Metadata Server encountered an error: Missing required header '
                 '"Metadata-Flavor": "Google"')


def region_of(zone: str) -> str:
    return zone.rsplit("-", 1)[0]


def derived_hex(seed: str, length: int) -> str:
    out = ""
    while len(out) < length:
        out += hashlib.sha256(f"{seed}/{len(out)}".encode()).hexdigest()
    return out[:length]


def additions(profile: Profile, project_id: str, num: int, zone: str,
              name: str) -> dict[str, Any]:
    """Instance keys a profile serves in its own form, before the config's values."""
    if profile is GKE:
        cluster = "emulated-cluster"
        return {"attributes": {"cluster-name": cluster, "cluster-location": region_of(zone),
                               "cluster-uid": derived_hex(f"{project_id}/{cluster}", 64)},
                "hostname": f"gke-{cluster}-default-pool-{derived_hex(name, 8)}-"
                            f"{derived_hex(name + '/node', 4)}.{zone}.c.{project_id}.internal"}
    if profile is CLOUD_RUN:
        region = region_of(zone)
        return {"region": f"projects/{num}/regions/{region}",
                "id": derived_hex(f"{project_id}/{region}/{name}", 128)}
    return {}


def subset(tree: dict, paths: tuple[str, ...]) -> dict:
    """The v1 tree cut to the profile's paths (directories keep their kind)."""
    out: dict[str, Any] = {}
    for path in paths:
        parts = path.split("/")
        source, target = tree, out
        for part in parts[:-1]:
            source = source.get(part) if isinstance(source, dict) else None
            if source is None:
                break
            target = target.setdefault(part, type(source)())
        else:
            if isinstance(source, dict) and parts[-1] in source:
                target[parts[-1]] = source[parts[-1]]
    return out


def ignored(profile: Profile, instance: dict, project: dict) -> list[str]:
    """Config keys the profile's server does not serve (a warning at start names them)."""
    if profile.serves is None:
        return []
    served = set(profile.serves)
    out = []
    for top, given in (("instance", instance), ("project", project)):
        for key, value in given.items():
            path = f"{top}/{key}"
            if path in served:
                continue
            if isinstance(value, dict):
                out += [f"{path}/{k}" for k in value if f"{path}/{k}" not in served]
            else:
                out.append(path)
    return out
