"""The credentials that call IAM (the "caller"), built from the ADC file with google-auth,
refreshed in a thread, one refresh at a time, and rebuilt when the file changes on disk, so a
new `gcloud auth application-default login` takes effect without a restart. Imported only when
tokens are real: google-auth and requests cost start-up time and memory that local tokens do
not need.
"""

from __future__ import annotations

import asyncio
import logging
import threading
from typing import Any

import google.auth.transport.requests
import google.oauth2.credentials
from google.auth import aws, external_account_authorized_user, identity_pool, pluggable
from google.auth import exceptions as gexc
from google.oauth2 import service_account

from ..files import signature
from ..redact import redact, summary
from .adc import LOGIN, RELOGIN, TYPES, Adc, AdcError, load
from .errors import TokenError, permission, unavailable

log = logging.getLogger("gce_metadata_emulator.adc")
CLOUD_PLATFORM = "https://www.googleapis.com/auth/cloud-platform"


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
