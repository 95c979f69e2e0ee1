"""YAML config → validated `Settings`. Every error names the file, the key path and the fix.

Layers, lowest first: built-in defaults < the YAML file < the environment (project only, as
gcloud users expect) < command-line flags.
"""

from __future__ import annotations

import dataclasses
import hashlib
import os
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from . import values
from .profiles import NAMES
from .values import join

EMBEDDED = "<embedded default config/default.yaml>"
PLACEHOLDER_PROJECT = "emulator-project"
CLOUD_PLATFORM = "https://www.googleapis.com/auth/cloud-platform"
CREDENTIAL_MODES = ("auto", "impersonate", "local")
TOP_KEYS = ("project", "instance", "service-accounts", "universe", "emulator")
ACCOUNT_KEYS = ("email", "scopes", "delegates")
DEFAULT_ENDPOINTS = {
    "iam-credentials": "https://iamcredentials.googleapis.com",
    "oauth2-token": "https://oauth2.googleapis.com/token",
}
EMAIL = re.compile(r"^[^@\s/]+@[^@\s/]+\.[^@\s/]+$")
NAME = re.compile(r"^[a-z]([-a-z0-9]{0,61}[a-z0-9])?$")
ZONE = re.compile(r"^[a-z]+-[a-z]+[0-9]+-[a-z]$")
PROJECT = re.compile(r"^([a-z0-9.-]+:)?[a-z][-a-z0-9]{4,28}[a-z0-9]$")
DURATION = re.compile(r"^([0-9]{1,9})s$")
ADMIN_REACH = ("loopback", "network", "off")
PROFILE_NAMES = NAMES  # profiles.py describes each
MAX_BYTES = 4 * 1024 * 1024


class Loader(yaml.SafeLoader):
    """YAML as people write configs: a date like 2024-05-01 stays the text written (the server
    serves text), instead of becoming a date object."""


Loader.yaml_implicit_resolvers = {
    first: [(tag, rx) for tag, rx in resolvers if tag != "tag:yaml.org,2002:timestamp"]
    for first, resolvers in yaml.SafeLoader.yaml_implicit_resolvers.items()}


class ConfigError(Exception):
    """A config problem, worded for the person who wrote the file."""

    def __init__(self, source: str, key: str, message: str) -> None:
        where = f"{source}: {key}: " if key else f"{source}: "
        super().__init__(where + " ".join(message.split()))  # always one line


@dataclass(frozen=True)
class ServiceAccount:
    email: str
    scopes: tuple[str, ...] = (CLOUD_PLATFORM,)
    delegates: tuple[str, ...] = ()


@dataclass(frozen=True)
class EmulatorSettings:
    credentials: str = "auto"
    token_lifetime: int = 3600
    token_refresh_margin: int = 300
    upstream_timeout: int = 10
    endpoints: dict[str, str] = field(default_factory=lambda: dict(DEFAULT_ENDPOINTS))
    allowed_hosts: tuple[str, ...] = ()
    signing_key: str | None = None
    watch_config: bool = True
    token_cache_size: int = 1000
    admin: str = "loopback"
    profile: str = "gce"
    request_log_size: int = 1000
    idle_timeout: int = 75
    header_timeout: int = 10


@dataclass(frozen=True)
class Settings:
    """Everything the emulator serves, validated. `instance` and `project` hold the wire keys
    the file gave beyond the named ones; defaults.py fills in the rest of the real tree."""

    source: str
    path: Path | None
    project_id: str
    project_id_from: str
    numeric_project_id: int
    instance: dict[str, Any]
    project: dict[str, Any]
    accounts: tuple[ServiceAccount, ...]
    universe_domain: str
    emulator: EmulatorSettings


def embedded_default() -> str:
    """config/default.yaml: package data in an installed wheel, the source tree's file in an
    editable install (which does not map the data package)."""
    source_tree = Path(__file__).resolve().parent.parent / "config" / "default.yaml"
    if source_tree.is_file():
        return source_tree.read_text(encoding="utf-8")
    from importlib import resources  # tempfile, shutil, zipfile: only for a wheel install

    bundled = resources.files("gce_metadata_emulator.bundled_config")
    return (bundled / "default.yaml").read_text("utf-8")


def read_text(path: Path | None) -> tuple[str, str]:
    """(source name, text) of a config file, or of the embedded default when path is None."""
    if path is None:
        return EMBEDDED, embedded_default()
    try:
        if path.stat().st_size > MAX_BYTES:
            raise ConfigError(str(path), "", f"larger than {MAX_BYTES // 2**20} MiB; a config "
                              "is a few kilobytes")
        return str(path), path.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise ConfigError(str(path), "", "no such file; check the --config path") from None
    except (OSError, UnicodeDecodeError) as exc:
        raise ConfigError(str(path), "", f"cannot read it ({exc})") from None


def load(
    path: Path | None,
    *,
    project: str | None = None,
    service_account: str | None = None,
    profile: str | None = None,
    environ: dict[str, str] | None = None,
) -> Settings:
    source, text = read_text(path)
    return parse(text, source, path, project=project, service_account=service_account,
                 profile=profile, environ=os.environ if environ is None else environ)


def parse(
    text: str,
    source: str,
    path: Path | None = None,
    *,
    project: str | None = None,
    service_account: str | None = None,
    profile: str | None = None,
    environ: dict[str, str] | os._Environ | None = None,
) -> Settings:
    """`profile` (the --profile flag) wins over emulator.profile."""
    environ = {} if environ is None else environ
    check = Checker(source)
    doc = read_yaml(text, source)
    values.bound(doc, check.fail)
    doc = {} if doc is None else doc
    check.mapping(doc, "")
    for key in doc:
        if key not in TOP_KEYS:
            check.fail(str(key), f"unknown key; the top-level keys are {', '.join(TOP_KEYS)}")

    proj = check.mapping(section(doc, "project"), "project")
    inst = check.mapping(section(doc, "instance"), "instance")
    if "service-accounts" in inst:
        check.fail("instance.service-accounts", "give accounts under the top-level key "
                   "service-accounts")
    if "guest-attributes" in inst:
        check.fail("instance.guest-attributes", "guest attributes are written by the VM while "
                   "it runs (PUT .../guest-attributes/NAMESPACE/KEY), not configured")

    if project:
        project_id, project_from = project, "--project"
    elif "project-id" in proj:
        project_id, project_from = check.string(proj["project-id"], "project.project-id"), source
    else:
        project_id, project_from = project_from_environment(environ)
    if not PROJECT.match(project_id):
        said = (f"{shown(project_id)} is not a project id (6 to 30 characters: lowercase "
                "letters, digits, hyphens; starting with a letter)")
        if project_from == source:
            check.fail("project.project-id", said)
        raise ConfigError(project_from, "", said)  # the flag, the variable, the gcloud config
    numeric = check.uint(proj.get("numeric-project-id", derived_number(project_id, 12)),
                         "project.numeric-project-id", bits=63)

    accounts = check.accounts(doc.get("service-accounts"))
    if service_account:
        if not EMAIL.match(service_account):
            raise ConfigError("--service-account", "", f"{shown(service_account)} is not an "
                              "email address")
        accounts = (ServiceAccount(service_account), *[a for a in accounts
                                                       if a.email != service_account])

    universe = check.mapping(section(doc, "universe"), "universe")
    domain = check.string(universe.get("universe-domain", "googleapis.com"),
                          "universe.universe-domain")

    return Settings(
        source=source,
        path=path,
        project_id=project_id,
        project_id_from=project_from,
        numeric_project_id=numeric,
        instance=check.instance(inst),
        project=check.project(proj),
        accounts=accounts,
        universe_domain=domain,
        emulator=emulator_settings(check, section(doc, "emulator"), profile),
    )


def emulator_settings(check: Checker, value: Any, profile: str | None) -> EmulatorSettings:
    settings = check.emulator(value)
    if profile is None:
        return settings
    if profile not in PROFILE_NAMES:
        raise ConfigError("--profile", "", f"{shown(profile)} is not a profile; use one of "
                          f"{', '.join(PROFILE_NAMES)}")
    return dataclasses.replace(settings, profile=profile)


def read_yaml(text: str, source: str) -> Any:
    """The document, or a ConfigError saying where YAML broke. PyYAML raises more than
    YAMLError on hostile input (a 5,000-digit number, nesting deeper than the stack)."""
    try:
        return yaml.load(text, Loader=Loader)
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f"line {mark.line + 1}, column {mark.column + 1}: " if mark else ""
        problem = getattr(exc, "problem", None) or getattr(exc, "reason", None) or str(exc)
        if getattr(exc, "position", None) is not None and not mark:  # a ReaderError
            where = f"character {exc.position + 1}: "
        raise ConfigError(source, "", f"{where}not valid YAML ({problem})") from None
    except RecursionError:
        raise ConfigError(source, "", f"nested more than {values.MAX_DEPTH} levels deep") \
            from None
    except ValueError as exc:  # int() past Python's 4,300-digit limit
        raise ConfigError(source, "", f"a value YAML cannot read ({exc}); quote it") from None


def section(doc: dict, name: str) -> Any:
    """A top-level section; an empty one (`project:`) is an empty mapping."""
    found = doc.get(name)
    return {} if found is None else found


def project_from_environment(environ: dict[str, str] | os._Environ) -> tuple[str, str]:
    """The project as gcloud users expect it: env vars, then the active gcloud configuration."""
    for var in ("GOOGLE_CLOUD_PROJECT", "CLOUDSDK_CORE_PROJECT"):
        if environ.get(var):
            return environ[var], f"${var}"
    import configparser

    folder = Path(environ.get("CLOUDSDK_CONFIG") or Path.home() / ".config" / "gcloud")
    name = environ.get("CLOUDSDK_ACTIVE_CONFIG_NAME")
    try:
        name = name or (folder / "active_config").read_text().strip() or "default"
    except OSError:
        name = "default"
    parser = configparser.ConfigParser()
    try:
        parser.read(folder / "configurations" / f"config_{name}")
        found = parser.get("core", "project", fallback="").strip()
    except configparser.Error:
        found = ""
    if found:
        return found, f"gcloud configuration {shown(name)}"
    return PLACEHOLDER_PROJECT, "placeholder"


def derived_number(seed: str, digits: int) -> int:
    """A stable number of `digits` digits derived from a name, for ids the config leaves out."""
    value = int.from_bytes(hashlib.sha256(seed.encode()).digest()[:8], "big")
    low = 10 ** (digits - 1)
    return low + value % (9 * low)


class Checker:
    """Validation helpers that know the file name, so each failure can say where it is."""

    def __init__(self, source: str) -> None:
        self.source = source

    def fail(self, key: str, message: str) -> None:
        raise ConfigError(self.source, key, message)

    def mapping(self, value: Any, key: str) -> dict:
        if not isinstance(value, dict):
            self.fail(key or "(top level)", f"expected a mapping of keys, got {kind(value)}")
        for name in value:
            values.name(name, key, self.fail)
        return value

    def string(self, value: Any, key: str) -> str:
        if isinstance(value, bool) or not isinstance(value, str | int) or value == "":
            self.fail(key, f"expected a non-empty string, got {kind(value)}")
        return str(value)

    def strings(self, value: Any, key: str) -> tuple[str, ...]:
        if isinstance(value, str):
            value = [value]
        if not isinstance(value, list):
            self.fail(key, f"expected a list of strings, got {kind(value)}")
        return tuple(self.string(item, f"{key}[{i}]") for i, item in enumerate(value))

    def uint(self, value: Any, key: str, bits: int = 64) -> int:
        if isinstance(value, str) and re.fullmatch(r"[0-9]{1,20}", value):
            value = int(value)
        if isinstance(value, bool) or not isinstance(value, int) or not 0 <= value < 2**bits:
            self.fail(key, f"expected a whole number from 0 to {2**bits - 1}, got {shown(value)}")
        return value

    def seconds(self, value: Any, key: str, low: int, high: int) -> int:
        if isinstance(value, str) and DURATION.match(value):
            value = int(value[:-1])
        if isinstance(value, bool) or not isinstance(value, int) or not low <= value <= high:
            self.fail(key, f"expected a duration like 3600s, from {low}s to {high}s; "
                      f"got {shown(value)}")
        return value

    def attributes(self, value: Any, key: str) -> dict[str, str]:
        self.mapping({} if value is None else value, key)
        out = {}
        for name, item in (value or {}).items():
            if isinstance(item, dict | list):
                self.fail(join(key, name), "attribute values are text; quote the value "
                          "(use a YAML block scalar | for multi-line values)")
            out[name] = str(values.scalar(item, join(key, name), self.fail))
        return out

    def project(self, proj: dict) -> dict[str, Any]:
        """The wire keys beyond the two ids: served as given, attributes as text."""
        out = {k: self.tree_value(v, join("project", k)) for k, v in proj.items()
               if k not in ("project-id", "numeric-project-id", "attributes")}
        if "attributes" in proj:
            out["attributes"] = self.attributes(proj["attributes"], "project.attributes")
        return out

    def instance(self, inst: dict) -> dict[str, Any]:
        named = ("id", "name", "zone", "machine-type", "tags", "attributes")
        out: dict[str, Any] = {k: self.tree_value(v, join("instance", k)) for k, v in inst.items()
                               if k not in named}
        if "id" in inst:
            out["id"] = self.uint(inst["id"], "instance.id")
        if "name" in inst:
            name = self.string(inst["name"], "instance.name")
            if not NAME.match(name):
                self.fail("instance.name", f"{shown(name)} is not a valid instance name (lowercase "
                          "letters, digits and hyphens, starting with a letter, at most 63)")
            out["name"] = name
        for key, pattern in (("zone", "zones"), ("machine-type", "machineTypes")):
            if key in inst:
                text = self.string(inst[key], f"instance.{key}")
                short = text.rsplit("/", 1)[-1]
                if "/" in text and f"/{pattern}/" not in text:
                    self.fail(f"instance.{key}", f"expected a short name or projects/N/"
                              f"{pattern}/NAME, got {shown(text)}")
                if key == "zone" and not ZONE.match(short):
                    self.fail("instance.zone", f"{shown(short)} is not a zone name like "
                              "us-central1-a")
                out[key] = short
        if "tags" in inst:
            out["tags"] = list(self.strings(inst["tags"], "instance.tags"))
        if "attributes" in inst:
            out["attributes"] = self.attributes(inst["attributes"], "instance.attributes")
        return out

    def tree_value(self, value: Any, key: str) -> Any:
        """Any other wire key: served as given, YAML scalars spelled as the server does."""
        return values.tree_value(value, key, self.fail)

    def accounts(self, value: Any) -> tuple[ServiceAccount, ...]:
        if value is None:
            return ()
        if not isinstance(value, list):
            self.fail("service-accounts", f"expected a list of accounts, got {kind(value)}")
        seen: set[str] = set()
        accounts = []
        for i, item in enumerate(value):
            key = f"service-accounts[{i}]"
            if isinstance(item, str):
                item = {"email": item}
            self.mapping(item, key)
            for name in item:
                if name not in ACCOUNT_KEYS:
                    self.fail(join(key, name), f"unknown key; an account has "
                              f"{', '.join(ACCOUNT_KEYS)}")
            if "email" not in item:
                self.fail(key, "missing email")
            email = self.string(item["email"], f"{key}.email")
            if not EMAIL.match(email):
                self.fail(f"{key}.email", f"{shown(email)} is not an email address")
            if email in seen or email == "default":
                self.fail(f"{key}.email", f"{shown(email)} is listed twice")
            seen.add(email)
            scopes = self.strings(item.get("scopes", [CLOUD_PLATFORM]), f"{key}.scopes")
            delegates = self.strings(item.get("delegates", []), f"{key}.delegates")
            for j, delegate in enumerate(delegates):
                if not EMAIL.match(delegate):
                    self.fail(f"{key}.delegates[{j}]", f"{shown(delegate)} is not an email address")
            accounts.append(ServiceAccount(email, scopes, delegates))
        return tuple(accounts)

    def emulator(self, value: Any) -> EmulatorSettings:
        known = ("credentials", "token-lifetime", "token-refresh-margin", "upstream-timeout",
                 "endpoints", "allowed-hosts", "signing-key", "watch-config", "token-cache-size",
                 "admin", "idle-timeout", "header-timeout", "profile", "request-log-size")
        self.mapping(value, "emulator")
        for name in value:
            if name not in known:
                self.fail(f"emulator.{name}", f"unknown key; emulator has {', '.join(known)}")
        mode = value.get("credentials", "auto")
        if mode not in CREDENTIAL_MODES:
            self.fail("emulator.credentials", f"expected one of {', '.join(CREDENTIAL_MODES)}, "
                      f"got {shown(mode)}")
        endpoints = dict(DEFAULT_ENDPOINTS)
        for name, url in self.mapping(section(value, "endpoints"), "emulator.endpoints").items():
            if name not in DEFAULT_ENDPOINTS:
                self.fail(f"emulator.endpoints.{name}", "unknown endpoint; known: "
                          f"{', '.join(DEFAULT_ENDPOINTS)}")
            url = self.string(url, f"emulator.endpoints.{name}")
            if not re.match(r"^https?://[^/\s]+", url):
                self.fail(f"emulator.endpoints.{name}", "expected an http(s) URL, got "
                          f"{shown(url)}")
            endpoints[name] = url.rstrip("/") if name == "iam-credentials" else url
        watch = value.get("watch-config", True)
        if not isinstance(watch, bool):
            self.fail("emulator.watch-config", f"expected true or false, got {shown(watch)}")
        admin = value.get("admin", "loopback")
        admin = "off" if admin is False else admin  # YAML reads a bare `off` as false
        if admin not in ADMIN_REACH:
            self.fail("emulator.admin", f"expected one of {', '.join(ADMIN_REACH)}, got "
                      f"{shown(admin)}")
        profile = value.get("profile", "gce")
        if profile not in PROFILE_NAMES:
            self.fail("emulator.profile", f"expected one of {', '.join(PROFILE_NAMES)}, got "
                      f"{shown(profile)}")
        cache_size = value.get("token-cache-size", 1000)
        if isinstance(cache_size, bool) or not isinstance(cache_size, int) or \
                not 1 <= cache_size <= 1_000_000:
            self.fail("emulator.token-cache-size", "expected a whole number of tokens from 1 "
                      f"to 1000000, got {shown(cache_size)}")
        log_size = value.get("request-log-size", 1000)
        if isinstance(log_size, bool) or not isinstance(log_size, int) or \
                not 0 <= log_size <= 100_000:
            self.fail("emulator.request-log-size", "expected a whole number of requests from 0 "
                      f"(no log) to 100000, got {shown(log_size)}")
        key = value.get("signing-key")
        lifetime = self.seconds(value.get("token-lifetime", "3600s"), "emulator.token-lifetime",
                                60, 43200)
        margin = self.seconds(value.get("token-refresh-margin", "300s"),
                              "emulator.token-refresh-margin", 0, 3000)
        if margin >= lifetime:
            self.fail("emulator.token-refresh-margin", f"{margin}s is not shorter than "
                      f"emulator.token-lifetime ({lifetime}s): tokens would never be cached")
        return EmulatorSettings(
            credentials=mode,
            token_lifetime=lifetime,
            token_refresh_margin=margin,
            upstream_timeout=self.seconds(value.get("upstream-timeout", "10s"),
                                          "emulator.upstream-timeout", 1, 120),
            endpoints=endpoints,
            allowed_hosts=self.strings(value.get("allowed-hosts", []), "emulator.allowed-hosts"),
            signing_key=None if key is None else self.string(key, "emulator.signing-key"),
            watch_config=watch,
            token_cache_size=cache_size,
            admin=admin,
            profile=profile,
            request_log_size=log_size,
            idle_timeout=self.seconds(value.get("idle-timeout", "75s"), "emulator.idle-timeout",
                                      1, 86400),
            header_timeout=self.seconds(value.get("header-timeout", "10s"),
                                        "emulator.header-timeout", 1, 3600),
        )


def kind(value: Any) -> str:
    if value is None:
        return "nothing"
    return {dict: "a mapping", list: "a list", str: f"the text {shown(value)}",
            bool: repr(value), int: f"the number {shown(value)}"}.get(type(value), shown(value))


def shown(value: Any, limit: int = 60) -> str:
    """A value quoted in a message, cut short: a 5,000-character value is not echoed whole."""
    text = repr(value)
    return text if len(text) <= limit else text[:limit] + "..."
