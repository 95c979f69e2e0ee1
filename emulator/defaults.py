"""The default GCE key tree, shaped like a real e2 VM, derived from a few settings.

What the config gives wins; dictionaries merge key by key, lists are replaced whole.
"""

from __future__ import annotations

from typing import Any

from . import profiles
from .config import ServiceAccount, Settings, derived_number
from .profiles import PROFILES
from .tree import Computed, Indexed, JsonLeaf, Verbatim

DEFAULT_NAME = "emulated-vm"
DEFAULT_ZONE = "us-central1-a"
DEFAULT_MACHINE_TYPE = "e2-medium"
# Addresses from the documentation ranges (RFC 5737): nothing real answers there.
EXTERNAL_IP = "203.0.113.10"
# Wire names the real server serves as numbered directories even when empty or of plain values.
INDEXED = frozenset({"disks", "network-interfaces", "access-configs", "ipv6-access-configs",
                     "licenses", "forwarded-ips", "forwarded-ipv6s", "ip-aliases",
                     "target-instance-ips"})


def default_account(settings: Settings) -> ServiceAccount:
    """The account served as `default/`: the first configured, else the project's Compute
    Engine default service account, as on a real VM."""
    if settings.accounts:
        return settings.accounts[0]
    return ServiceAccount(f"{settings.numeric_project_id}-compute@developer.gserviceaccount.com")


def instance_identity(settings: Settings) -> tuple[str, str, int]:
    """(name, zone, id) of the instance, the config's or the derived defaults."""
    inst = settings.instance
    name = inst.get("name", DEFAULT_NAME)
    zone = inst.get("zone", DEFAULT_ZONE)
    iid = inst.get("id", derived_number(f"{settings.project_id}/{zone}/{name}", 19))
    return name, zone, iid


def build_tree(settings: Settings) -> dict:
    """The whole served tree: `/` → computeMetadata/ → v1/ → instance/, project/, universe/."""
    num = settings.numeric_project_id
    inst = settings.instance
    name, zone, iid = instance_identity(settings)
    instance: dict[str, Any] = {
        "attributes": {},
        "cpu-platform": "Intel Broadwell",
        "description": "",
        "disks": [{"device-name": "persistent-disk-0", "index": 0, "interface": "SCSI",
                   "mode": "READ_WRITE", "type": "PERSISTENT-BALANCED"}],
        "hostname": f"{name}.{zone}.c.{settings.project_id}.internal",
        "id": iid,
        "image": "projects/debian-cloud/global/images/debian-12-bookworm-v20261111",
        "licenses": [{"id": "2147286739765738111"}],
        "machine-type": inst.get("machine-type", DEFAULT_MACHINE_TYPE),
        "maintenance-event": "NONE",
        "name": name,
        "network-interfaces": [{
            "access-configs": [{"external-ip": EXTERNAL_IP, "type": "ONE_TO_ONE_NAT"}],
            "dns-servers": ["169.254.169.254"],
            "forwarded-ips": [],
            "gateway": "10.128.0.1",
            "ip": "10.128.0.2",
            "ip-aliases": [],
            "mac": "42:01:0a:80:00:02",
            "mtu": 1460,
            "network": f"projects/{num}/networks/default",
            "subnetmask": "255.255.240.0",
            "target-instance-ips": [],
        }],
        "preempted": "FALSE",
        "remaining-cpu-time": -1,
        "scheduling": {"automatic-restart": "TRUE", "on-host-maintenance": "MIGRATE",
                       "preemptible": "FALSE"},
        "tags": [],
        "virtual-clock": {"drift-token": "0"},
        "zone": zone,
    }
    profile = PROFILES[settings.emulator.profile]
    instance = merge(instance, profiles.additions(profile, settings.project_id, num, zone, name))
    instance = merge(instance, inst)
    # Cloud Run is regional: its zone is REGION-1 whatever zone the config names
    served_zone = f"{profiles.region_of(zone)}-1" if profile is profiles.CLOUD_RUN else zone
    instance["zone"] = f"projects/{num}/zones/{served_zone}"
    instance["machine-type"] = f"projects/{num}/machineTypes/{instance['machine-type']}"
    instance["tags"] = JsonLeaf(list(instance["tags"]))
    instance["attributes"] = Verbatim(instance["attributes"])
    instance["guest-attributes"] = Verbatim()  # written by the VM itself: PUT, see server.py
    instance["service-accounts"] = accounts_dir(settings)

    project = merge({"attributes": {}}, settings.project)
    project["attributes"] = Verbatim(project["attributes"])
    project["numeric-project-id"] = num
    project["project-id"] = settings.project_id

    v1 = {
        "instance": freeze(instance),
        "project": freeze(project),
        "universe": {"universe-domain": settings.universe_domain},
    }
    if profile.serves is not None:
        v1 = profiles.subset(v1, profile.serves)
    return {"computeMetadata": {"v1": v1}}


def accounts_of(settings: Settings) -> tuple[ServiceAccount, ...]:
    """Every served account, the default first."""
    first = default_account(settings)
    return (first, *[a for a in settings.accounts if a.email != first.email])


def accounts_dir(settings: Settings) -> Verbatim:
    """`service-accounts/`: `default/` and the default account's email name the same node."""
    accounts = accounts_of(settings)
    entries: dict[str, Any] = {}
    for account in accounts:
        entries[account.email] = {
            "aliases": ["default"] if account is accounts[0] else [],
            "email": account.email,
            "identity": Computed("identity", account.email),
            "scopes": list(account.scopes),
            "token": Computed("token", account.email),
        }
    entries["default"] = entries[accounts[0].email]
    return Verbatim(entries)


def merge(base: dict, given: dict) -> dict:
    out = dict(base)
    for key, value in given.items():
        if isinstance(value, dict) and isinstance(out.get(key), dict):
            out[key] = merge(out[key], value)
        else:
            out[key] = value
    return out


def freeze(node: Any, name: str = "") -> Any:
    """Directories of user keys stay so all the way down; lists of mappings, and the lists the
    real server serves as directories, become indexed directories. (Views sort names.)"""
    if isinstance(node, dict):
        verbatim = isinstance(node, Verbatim)
        return (Verbatim if verbatim else dict)(
            (k, freeze(Verbatim(v) if verbatim and type(v) is dict else v, k))
            for k, v in node.items())
    if isinstance(node, list) and not isinstance(node, Indexed) and (
            name in INDEXED or (node and all(isinstance(item, dict) for item in node))):
        return Indexed(freeze(item) for item in node)
    return node
