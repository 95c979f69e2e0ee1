"""Real tokens: impersonate the configured account through the IAM Service Account Credentials
API with the developer's ADC. A service-account key ADC mints its own account's tokens
directly (google-auth signs and exchanges them), with no IAM call.

Upstream calls have a timeout and a few retries with backoff for passing faults (429, 5xx,
timeouts). What the client then sees: 403 for a refusal (fail fast, with the fix), 400 for a
request IAM rejects as malformed, 503 for a fault that outlasted the retries (clients retry).
"""

from __future__ import annotations

import asyncio
import base64
import contextlib
import datetime
import json
import logging
import time
from collections.abc import Callable
from typing import Any

import aiohttp
from google.oauth2 import service_account

from ..config import ServiceAccount
from ..redact import redact, summary
from .adc import Adc
from .cache import Token, checked
from .caller import Caller
from .errors import TokenError, permission, sentence, unavailable

log = logging.getLogger("gce_metadata_emulator.iam")
ATTEMPTS = 3
BACKOFF = 0.25
RETRYABLE = {429, 500, 502, 503, 504}


class ImpersonateUpstream:
    name = "impersonate"

    def __init__(self, caller: Caller, iam_url: str, timeout: float = 10.0) -> None:
        self.caller = caller
        self.iam_url = iam_url.rstrip("/")
        self.timeout = aiohttp.ClientTimeout(total=timeout)
        self._session: aiohttp.ClientSession | None = None

    @property
    def adc(self) -> Adc:
        return self.caller.adc

    async def close(self) -> None:
        if self._session is not None:
            await self._session.close()

    async def access_token(self, account: ServiceAccount, scopes: tuple[str, ...],
                           lifetime: int) -> Token:
        if self.adc.key_email == account.email:
            creds = service_account.Credentials.from_service_account_info(
                self.adc.info, scopes=list(scopes))
            await self.caller.refresh(creds)
            return Token(creds.token, expiry_epoch(creds.expiry))
        body = {"scope": list(scopes), "delegates": delegates(account),
                "lifetime": f"{lifetime}s"}
        return await self.call(account.email, "generateAccessToken", body, access_answer)

    async def id_token(self, account: ServiceAccount, audience: str, full: bool,
                       claims: dict) -> Token:
        if self.adc.key_email == account.email:
            creds = service_account.IDTokenCredentials.from_service_account_info(
                self.adc.info, target_audience=audience)
            await self.caller.refresh(creds)
            return Token(creds.token, jwt_expiry(creds.token))
        body = {"audience": audience, "includeEmail": full, "delegates": delegates(account)}
        return await self.call(account.email, "generateIdToken", body, id_answer)

    async def call(self, email: str, method: str, body: dict,
                   parse: Callable[[Any], Token]) -> Token:
        """POST one IAM Credentials method, retrying passing faults with backoff. A 200 whose
        body is not what the API answers counts as a passing fault too."""
        if self._session is None:
            self._session = aiohttp.ClientSession(timeout=self.timeout)
        url = f"{self.iam_url}/v1/projects/-/serviceAccounts/{email}:{method}"
        failure: TokenError | None = None
        force = False
        for attempt in range(ATTEMPTS):
            if attempt:
                await asyncio.sleep(BACKOFF * 2 ** (attempt - 1))
            token = await self.caller.token(force=force)
            force = False
            try:
                async with self._session.post(
                        url, json=body, headers={"Authorization": f"Bearer {token}"}) as resp:
                    status = resp.status
                    raw = await resp.read()
            except (TimeoutError, aiohttp.ClientError) as exc:
                failure = unavailable(f"IAM {method} for {email} did not answer "
                                      f"({type(exc).__name__} after {attempt + 1} tries); "
                                      "the client will retry")
                continue
            if status == 200:
                try:
                    return parse(json.loads(raw))
                except TokenError as exc:
                    failure = exc
                    continue
                except (ValueError, TypeError, KeyError, AttributeError):
                    failure = unavailable(f"IAM {method} for {email} answered 200 with "
                                          f"{malformed(raw)}; the client will retry")
                    continue
            failure = iam_error(status, raw, email, method, self.adc, self.iam_url)
            if status == 401 and attempt == 0:
                force = True  # the caller's token was refused: refresh it once and retry
                continue
            if status not in RETRYABLE:
                break
        assert failure is not None
        log.warning("%s for %s failed: %s", method, email, failure.message)
        raise failure


def access_answer(answer: Any) -> Token:
    """generateAccessToken's answer, checked as the cache checks it, so a malformed one is
    retried here."""
    return checked(Token(answer["accessToken"], parse_time(answer["expireTime"])),
                   time.time(), "IAM generateAccessToken")


def id_answer(answer: Any) -> Token:
    token = answer["token"]
    if not isinstance(token, str):
        raise TypeError("token is not text")
    return checked(Token(token, jwt_expiry(token)), time.time(), "IAM generateIdToken")


def malformed(raw: bytes) -> str:
    """What a 200 carried instead of the API's answer, without the token it may hold."""
    try:
        doc = json.loads(raw)
    except ValueError:
        return f"a body that is not JSON ({summary(raw[:2000].decode('utf-8', 'replace'))})"
    if not isinstance(doc, dict):
        return f"JSON that is not an object ({type(doc).__name__})"
    fields = ", ".join(f"{k}: {type(v).__name__}" for k, v in list(doc.items())[:5])
    return f"unexpected fields ({fields})"


def iam_error(status: int, raw: bytes, email: str, method: str, adc: Adc,
              iam_url: str) -> TokenError:
    """IAM's own message, with the command that fixes the usual causes."""
    error: Any = None
    with contextlib.suppress(ValueError, AttributeError):
        error = json.loads(raw).get("error")
    if isinstance(error, dict):
        message = redact(str(error.get("message", "")), 500)
        details = error.get("details") if isinstance(error.get("details"), list) else []
    else:
        message, details = summary(raw[:4000].decode("utf-8", "replace"), 200), []
    reasons = {d.get("reason") for d in details if isinstance(d, dict)}
    said = f"IAM {method} for {email} answered {status}: {message or 'no message'}"
    if status in RETRYABLE:
        return unavailable(f"{said}; the client will retry")
    if "SERVICE_DISABLED" in reasons:
        consumer = next((d.get("metadata", {}).get("consumer", "") for d in details
                         if isinstance(d, dict) and d.get("reason") == "SERVICE_DISABLED"), "")
        project = str(consumer).rsplit("/", 1)[-1] or "YOUR_PROJECT"
        fix = f"gcloud services enable iamcredentials.googleapis.com --project={project}"
        return permission(f"{sentence(said)} Enable the API: {fix}", fix, sentence(said))
    if status == 400:
        hint = ""
        if "lifetime" in message.lower():
            hint = (" Set emulator.token-lifetime to 3600s or less, or allow longer lifetimes "
                    "with the org policy constraints/iam.allowServiceAccountCredentialLifetime"
                    "Extension.")
        return TokenError(400, sentence(said) + hint)
    if status == 404:
        if isinstance(error, dict):  # IAM itself: the account does not exist
            return permission(f"{sentence(said)} The service account {email} does not exist; "
                              "check its email under service-accounts in the config")
        return permission(f"{sentence(said)} {iam_url} does not look like the IAM Credentials "
                          "API; check emulator.endpoints.iam-credentials")
    if status in (401, 403):
        fix = grant_command(email, adc)
        return permission(f"{sentence(said)} Grant your account the Token Creator role on it: "
                          f"{fix}", fix, sentence(said))
    return permission(said)


def grant_command(email: str, adc: Adc) -> str:
    if adc.kind == "service_account":
        member = f"serviceAccount:{adc.info.get('client_email')}"
    elif adc.kind == "impersonated_service_account" and \
            adc.info["source_credentials"].get("type") == "service_account":
        member = f"serviceAccount:{adc.info['source_credentials'].get('client_email')}"
    else:
        member = "user:$(gcloud config get-value account)"
    return (f'gcloud iam service-accounts add-iam-policy-binding {email} --member="{member}" '
            "--role=roles/iam.serviceAccountTokenCreator")


def delegates(account: ServiceAccount) -> list[str]:
    return [f"projects/-/serviceAccounts/{d}" for d in account.delegates]


def parse_time(value: str) -> float:
    """IAM's expireTime: RFC 3339 in UTC, with or without fractional seconds."""
    if not isinstance(value, str):
        raise TypeError("expireTime is not text")
    text = value.replace("Z", "+00:00")
    if "." in text:
        head, rest = text.split(".", 1)
        fraction, _, zone = rest.partition("+")
        text = f"{head}.{fraction[:6]}+{zone}"
    return datetime.datetime.fromisoformat(text).timestamp()


def expiry_epoch(expiry: Any) -> float:
    """google-auth's naive-UTC expiry as epoch seconds."""
    return expiry.replace(tzinfo=datetime.UTC).timestamp()


def jwt_expiry(token: str) -> float:
    """`exp` of a JWT, read without verifying (Google signed it; the client verifies)."""
    try:
        payload = token.split(".")[1]
        claims = json.loads(base64.urlsafe_b64decode(payload + "=" * (-len(payload) % 4)))
        return float(claims["exp"])
    except (IndexError, ValueError, KeyError, TypeError):
        raise unavailable("the ID token from upstream is not a JWT with an exp claim; the "
                          "client will retry") from None
