"""The developer's Application Default Credentials, found as the client libraries find them,
except that a metadata server is never asked: that would be this emulator itself, or the real
host's identity.

The credentials that call IAM (the "caller") are built with google-auth, refreshed in a
thread, one refresh at a time, and rebuilt when the file changes on disk, so a new
`gcloud auth application-default login` takes effect without a restart.
"""

from __future__ import annotations

import asyncio
import json
import logging
import os
import re
import threading
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import google.auth.transport.requests
import google.oauth2.credentials
from google.auth import aws, external_account_authorized_user, identity_pool, pluggable
from google.auth import exceptions as gexc
from google.oauth2 import service_account

from ..files import signature
from ..redact import redact, summary
from .errors import TokenError, permission, unavailable

log = logging.getLogger("gce_metadata_emulator.adc")
CLOUD_PLATFORM = "https://www.googleapis.com/auth/cloud-platform"
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
    return candidate if candidate.is_file() else None


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


def caller_credentials(adc: Adc, oauth2_token_url: str) -> Any:
    """google-auth credentials that call IAM, built with each type's own class (the generic
    loader sends user credentials to Google's token endpoint whatever the file says). For an
    impersonated ADC the caller is its source: the emulator impersonates the target itself,
    through the configured IAM endpoint."""
    info = adc.info["source_credentials"] if adc.kind == "impersonated_service_account" \
        else adc.info
    kind = info.get("type")
    try:
        if kind == "authorized_user":
            return google.oauth2.credentials.Credentials(
                token=None, refresh_token=info["refresh_token"], client_id=info["client_id"],
                client_secret=info["client_secret"], token_uri=oauth2_token_url,
                quota_project_id=info.get("quota_project_id"),
                rapt_token=info.get("rapt_token"))
        if kind == "service_account":
            return service_account.Credentials.from_service_account_info(
                info, scopes=[CLOUD_PLATFORM])
        if kind == "external_account":
            source = info.get("credential_source") or {}
            if "executable" in source:
                return pluggable.Credentials.from_info(info, scopes=[CLOUD_PLATFORM])
            if str(source.get("environment_id", "")).startswith("aws"):
                return aws.Credentials.from_info(info, scopes=[CLOUD_PLATFORM])
            return identity_pool.Credentials.from_info(info, scopes=[CLOUD_PLATFORM])
        if kind == "external_account_authorized_user":
            return external_account_authorized_user.Credentials.from_info(info)
    except KeyError as exc:
        raise AdcError(f"{adc.path}: {kind} credentials without the field {exc}") from None
    except Exception as exc:  # google-auth raises many kinds for a malformed file
        raise AdcError(f"{adc.path}: google-auth cannot load these credentials: "
                       f"{type(exc).__name__}: {redact(str(exc), 200)}") from None
    raise AdcError(f"{adc.path}: credentials of type {kind!r} cannot call IAM; supported: "
                   f"{', '.join(TYPES[:-1])}")


class TimeoutRequest(google.auth.transport.requests.Request):
    """google-auth's transport with a bounded timeout (its own default is two minutes). It
    remembers the last HTTP status it saw in each thread: google-auth's RefreshError does not
    say whether the token endpoint refused (fail fast) or was down (retry)."""

    def __init__(self, timeout: float) -> None:
        super().__init__()
        self.timeout = timeout
        self._seen = threading.local()

    def __call__(self, *args, timeout: float | None = None, **kwargs):
        response = super().__call__(*args, timeout=timeout or self.timeout, **kwargs)
        self._seen.status = response.status
        return response

    def refresh(self, credentials: Any) -> None:
        """credentials.refresh through this transport; a RefreshError gets `http_status`."""
        self._seen.status = None
        try:
            credentials.refresh(self)
        except gexc.RefreshError as exc:
            exc.http_status = self._seen.status
            raise


class Caller:
    """The caller's access token for IAM, refreshed when needed, one refresh at a time."""

    def __init__(self, adc: Adc, oauth2_token_url: str, timeout: float = 10.0) -> None:
        self.adc = adc
        self.oauth2_token_url = oauth2_token_url
        self.credentials = caller_credentials(adc, oauth2_token_url)
        self._signature = signature(adc.path)
        self._lock = asyncio.Lock()
        self._request = TimeoutRequest(timeout)

    async def token(self, force: bool = False) -> str:
        async with self._lock:
            self._reload_if_changed()
            if force or not self.credentials.valid:
                await self.refresh(self.credentials)
            return self.credentials.token

    async def refresh(self, credentials: Any) -> None:
        """Refresh any google-auth credentials in a thread, with errors a client can act on."""
        try:
            await asyncio.to_thread(self._request.refresh, credentials)
        except gexc.RefreshError as exc:
            raise refresh_error(exc, self.adc, self.oauth2_token_url) from None
        except gexc.TransportError as exc:
            raise unavailable(f"could not reach the token endpoint to refresh your Application "
                              f"Default Credentials ({type(exc).__name__}); the client will "
                              "retry") from None
        except gexc.GoogleAuthError as exc:
            raise permission(f"your Application Default Credentials ({self.adc.path}) failed: "
                             f"{short(exc)}") from None
        except (ValueError, TypeError, KeyError) as exc:  # a malformed answer google-auth chokes on
            raise unavailable(f"the token endpoint's answer could not be used "
                              f"({type(exc).__name__}: {redact(str(exc), 200)}); the client "
                              "will retry") from None

    def _reload_if_changed(self) -> None:
        now = signature(self.adc.path)
        if now is None or now == self._signature:
            return
        self._signature = now
        try:
            adc = load(self.adc.path)
            self.credentials = caller_credentials(adc, self.oauth2_token_url)
            self.adc = adc
            log.info("Application Default Credentials changed on disk; now using %s",
                     adc.describe())
        except AdcError as exc:
            log.error("ADC file changed but cannot be used, keeping the previous: %s", exc)


def refresh_error(exc: gexc.RefreshError, adc: Adc, token_url: str) -> TokenError:
    """What the client sees when the ADC cannot be refreshed: 403 for a refusal (with the
    fix), 503 for a token endpoint that is down or answered nonsense (clients retry)."""
    detail = short(exc)
    status = getattr(exc, "http_status", None)
    if any(word in detail for word in ("invalid_grant", "invalid_rapt", "reauth")):
        return permission(f"your Application Default Credentials need a new login ({detail}): "
                          f"{RELOGIN}", LOGIN)
    if status == 404:
        return permission(f"the token endpoint answered 404 ({detail}): check "
                          f"emulator.endpoints.oauth2-token ({token_url}) or the token_uri of "
                          f"{adc.path}")
    if getattr(exc, "retryable", False) or status in (408, 429) or (status or 0) >= 500 or \
            detail.startswith("an HTML page"):
        return unavailable(f"refreshing your Application Default Credentials failed for now "
                           f"(HTTP {status or '?'}: {detail}); the client will retry")
    return permission(f"refreshing your Application Default Credentials ({adc.path}) was "
                      f"refused: {detail}")


def short(exc: Exception) -> str:
    """The error text only, redacted: google-auth puts the response body in args[1], never
    shown; args[0] may be a whole HTML page or echo what was sent."""
    first = exc.args[0] if exc.args else type(exc).__name__
    return summary(str(first), 300)
