"""The developer's Application Default Credentials file, found as the client libraries find
it, except that a metadata server is never asked: that would be this emulator itself, or the
real host's identity. Reading and checking the file needs no google-auth (caller.py builds the
credentials from it, only when tokens are real).
"""

from __future__ import annotations

import json
import os
import re
from dataclasses import dataclass, field
from pathlib import Path

TYPES = ("authorized_user", "service_account", "impersonated_service_account",
         "external_account", "external_account_authorized_user")
TARGET = re.compile(r"serviceAccounts/([^/:]+):generateAccessToken")
LOGIN = "gcloud auth application-default login"
RELOGIN = f"run `{LOGIN}` and try again"


class AdcError(Exception):
    """ADC that exists but cannot be used; the message says which file and what to do."""


def find(environ: dict[str, str] | os._Environ) -> Path | None:
    """GOOGLE_APPLICATION_CREDENTIALS, else gcloud's file; never the metadata server."""
    explicit = environ.get("GOOGLE_APPLICATION_CREDENTIALS")
    if explicit:
        return Path(explicit).expanduser()
    folder = environ.get("CLOUDSDK_CONFIG") or str(Path.home() / ".config" / "gcloud")
    candidate = Path(folder).expanduser() / "application_default_credentials.json"
    try:
        return candidate if candidate.is_file() else None
    except OSError:  # a folder this user may not read: load() says so, naming the file
        return candidate


@dataclass
class Adc:
    """A parsed ADC file. `info` holds secrets: never log or print it."""

    path: Path
    kind: str
    info: dict = field(repr=False)
    implied_account: str | None = None
    implied_delegates: tuple[str, ...] = ()
    quota_project: str | None = None

    @property
    def key_email(self) -> str | None:
        """The account of a service-account key, which can mint its own tokens directly."""
        return self.info.get("client_email") if self.kind == "service_account" else None

    def describe(self) -> str:
        who = self.implied_account or self.info.get("account") or ""
        return f"{self.kind}{' ' + who if who else ''} from {self.path}"


# Fields each type needs, and their JSON types; what google-auth reads. Checked at load so a
# file with a number where text belongs names the file and the field, not a traceback.
TEXT = str
FIELDS: dict[str, dict[str, tuple[type, bool]]] = {
    "authorized_user": {"client_id": (TEXT, True), "client_secret": (TEXT, True),
                        "refresh_token": (TEXT, True), "token_uri": (TEXT, False)},
    "service_account": {"client_email": (TEXT, True), "private_key": (TEXT, True),
                        "private_key_id": (TEXT, False), "token_uri": (TEXT, False)},
    "impersonated_service_account": {"source_credentials": (dict, True),
                                     "service_account_impersonation_url": (TEXT, True),
                                     "delegates": (list, False)},
    "external_account": {"audience": (TEXT, True), "subject_token_type": (TEXT, True),
                         "token_url": (TEXT, True), "credential_source": (dict, False),
                         "service_account_impersonation_url": (TEXT, False)},
    "external_account_authorized_user": {"refresh_token": (TEXT, True),
                                         "token_url": (TEXT, True),
                                         "client_id": (TEXT, False),
                                         "client_secret": (TEXT, False)},
}
COMMON = {"quota_project_id": (TEXT, False), "universe_domain": (TEXT, False)}


def check_fields(info: dict, path: Path, where: str = "") -> str:
    """The credentials type, after checking the fields that type needs; AdcError names the
    file and the field."""
    kind = info.get("type")
    if kind not in TYPES:
        raise AdcError(f"{path}: {where}type: unsupported credentials type "
                       f"{str(kind)[:60]!r}; supported: {', '.join(TYPES)}")
    for name, (wanted, required) in {**FIELDS[kind], **COMMON}.items():
        value = info.get(name)
        if value is None:
            if required:
                raise AdcError(f"{path}: {where}{name}: missing; {kind} credentials need it. "
                               f"{RELOGIN.split(' and ')[0].capitalize()} to write the file "
                               "anew")
            continue
        if not isinstance(value, wanted) or (wanted is TEXT and not value):
            what = {str: "non-empty text", dict: "an object", list: "a list"}[wanted]
            raise AdcError(f"{path}: {where}{name}: expected {what}, got "
                           f"{type(value).__name__}")
    for i, delegate in enumerate(info.get("delegates") or []):
        if not isinstance(delegate, str) or not delegate:
            raise AdcError(f"{path}: {where}delegates[{i}]: expected an account name like "
                           "projects/-/serviceAccounts/EMAIL, got "
                           f"{type(delegate).__name__}")
    if kind == "impersonated_service_account":
        source = check_fields(info["source_credentials"], path, where + "source_credentials.")
        if source not in ("authorized_user", "service_account", "external_account",
                          "external_account_authorized_user"):
            raise AdcError(f"{path}: {where}source_credentials.type: {source} cannot be the "
                           "source of impersonated credentials")
    return kind


def load(path: Path) -> Adc:
    try:
        info = json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise AdcError(f"{path}: no such file (from GOOGLE_APPLICATION_CREDENTIALS?); "
                       f"fix the variable or {RELOGIN.split(' and ')[0]}") from None
    except (OSError, UnicodeDecodeError) as exc:
        raise AdcError(f"{path}: cannot read it ({exc})") from None
    except json.JSONDecodeError as exc:
        raise AdcError(f"{path}: not valid JSON (line {exc.lineno}); "
                       f"{RELOGIN.split(' and ')[0]} to write it anew") from None
    except RecursionError:
        raise AdcError(f"{path}: nested too deeply to be credentials") from None
    if not isinstance(info, dict):
        raise AdcError(f"{path}: expected a JSON object of credentials, got "
                       f"{type(info).__name__}")
    kind = check_fields(info, path)
    adc = Adc(path, kind, info, quota_project=info.get("quota_project_id"))
    if kind == "service_account":
        adc.implied_account = info.get("client_email")
    elif kind == "impersonated_service_account":
        match = TARGET.search(info.get("service_account_impersonation_url", ""))
        if not match or not isinstance(info.get("source_credentials"), dict):
            raise AdcError(f"{path}: an impersonated_service_account file needs "
                           "source_credentials and service_account_impersonation_url")
        adc.implied_account = match.group(1)
        adc.implied_delegates = tuple(d.rsplit("/", 1)[-1] for d in info.get("delegates") or [])
    return adc
