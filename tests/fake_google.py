"""A fake of the Google APIs the emulator calls, on loopback, answering with the real APIs'
JSON (shared/protocol.md section 7), error bodies included.

- OAuth2 token endpoint `/token`: refresh_token grants (authorized_user ADC) and jwt-bearer
  grants (service-account keys: access tokens, and ID tokens for a target_audience).
- STS `/v1/token`: token exchange for external_account (workload identity federation) ADC.
- IAM Credentials: generateAccessToken, generateIdToken, signBlob, signJwt; permissions per
  account, delegation chains, the 1 h lifetime limit, scripted faults and delays.
- Storage `/storage/v1/b`: a bucket list that checks the bearer token, for the unchanged
  Compute Engine docs sample.

It runs its own event loop in a thread, so tests that block on a client subprocess do not
block it. Counters say how many calls each method received.
"""

from __future__ import annotations

import asyncio
import base64
import collections
import datetime
import json
import threading
import time
from typing import Any

from aiohttp import web
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa
from google.auth import crypt, jwt

USER = "dev@example.com"
REFRESH_TOKEN = "1//fake-refresh-token"
REVOKED_REFRESH_TOKEN = "1//revoked-refresh-token"
CLIENT_ID = "764086051850-fake.apps.googleusercontent.com"
CLIENT_SECRET = "fake-client-secret"
SUBJECT_TOKEN = "fake-oidc-subject-token"
BUCKET = "acme-dev-bucket"


def new_key() -> tuple[str, str]:
    """(private PEM, public PEM) of a fresh RSA key."""
    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    private = key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                                serialization.NoEncryption()).decode()
    public = key.public_key().public_bytes(serialization.Encoding.PEM,
                                           serialization.PublicFormat.SubjectPublicKeyInfo)
    return private, public.decode()


def error(code: int, status: str, message: str, details: list | None = None) -> web.Response:
    body = {"error": {"code": code, "message": message, "status": status}}
    if details:
        body["error"]["details"] = details
    return web.json_response(body, status=code)


def oauth_error(name: str, description: str, status: int = 400) -> web.Response:
    return web.json_response({"error": name, "error_description": description}, status=status)


def denied(permission: str) -> web.Response:
    return error(403, "PERMISSION_DENIED",
                 f"Permission '{permission}' denied on resource (or it may not exist).",
                 [{"@type": "type.googleapis.com/google.rpc.ErrorInfo",
                   "reason": "IAM_PERMISSION_DENIED", "domain": "iam.googleapis.com",
                   "metadata": {"permission": permission}}])


def rfc3339(epoch: float) -> str:
    return datetime.datetime.fromtimestamp(epoch, datetime.UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


class FakeGoogle:
    def __init__(self) -> None:
        self.calls: collections.Counter[str] = collections.Counter()
        self.granted: set[str] = set()  # accounts the caller may impersonate
        self.faults: dict[str, list[tuple[int, Any]]] = collections.defaultdict(list)
        self.delay = 0.0  # seconds before IAM answers
        self.slow: dict[str, list[float]] = collections.defaultdict(list)
        self.sa_keys: dict[str, str] = {}  # client_email -> public PEM, for jwt-bearer
        self.issued: dict[str, str] = {}  # access token -> principal
        self.requests: list[dict] = []  # IAM request bodies, in order
        self.latencies: list[float] = []  # seconds each IAM call took to answer
        private, self.public_pem = new_key()
        self.key_id = "fake-google-key-1"
        self.signer = crypt.RSASigner.from_string(private, key_id=self.key_id)
        self._serial = 0
        self._loop = asyncio.new_event_loop()
        self._runner: web.AppRunner | None = None
        self.url = ""

    # ---- lifecycle -------------------------------------------------------------------
    def start(self) -> FakeGoogle:
        ready = threading.Event()
        threading.Thread(target=self._run, args=(ready,), daemon=True).start()
        ready.wait(10)
        return self

    def _run(self, ready: threading.Event) -> None:
        asyncio.set_event_loop(self._loop)
        app = web.Application()
        app.router.add_post("/token", self.token)
        app.router.add_post("/v1/token", self.sts)
        app.router.add_post("/v1/projects/-/serviceAccounts/{name}", self.iam)
        app.router.add_get("/storage/v1/b", self.buckets)
        self._runner = web.AppRunner(app, access_log=None)
        self._loop.run_until_complete(self._runner.setup())
        site = web.TCPSite(self._runner, "127.0.0.1", 0)
        self._loop.run_until_complete(site.start())
        self.url = f"http://127.0.0.1:{self._runner.addresses[0][1]}"
        ready.set()
        self._loop.run_forever()

    def stop(self) -> None:
        async def close() -> None:
            await self._runner.cleanup()
        asyncio.run_coroutine_threadsafe(close(), self._loop).result(10)
        self._loop.call_soon_threadsafe(self._loop.stop)

    def fail_next(self, method: str, status: int, body: Any = None, times: int = 1) -> None:
        """The next `times` calls of `method` (an IAM method, or "token" for the OAuth2 token
        endpoint) answer `status` with `body`: JSON for a dict or list, the bytes as they are
        for text (an HTML error page, broken JSON), else a real-shaped error body."""
        self.faults[method].extend([(status, body)] * times)

    def scripted(self, method: str) -> web.Response | None:
        if not self.faults[method]:
            return None
        status, body = self.faults[method].pop(0)
        if isinstance(body, str | bytes):
            raw = body.encode() if isinstance(body, str) else body
            kind = "text/html" if raw.lstrip()[:1] == b"<" else "application/json"
            return web.Response(status=status, body=raw, content_type=kind)
        if body is not None:
            return web.json_response(body, status=status)
        return {401: lambda: error(401, "UNAUTHENTICATED", "Request had invalid "
                                   "authentication credentials."),
                403: lambda: denied("iam.serviceAccounts.getAccessToken"),
                404: lambda: error(404, "NOT_FOUND", "Requested entity was not found."),
                429: lambda: error(429, "RESOURCE_EXHAUSTED", "Quota exceeded."),
                500: lambda: error(500, "INTERNAL", "Internal error encountered."),
                503: lambda: error(503, "UNAVAILABLE", "The service is currently "
                                   "unavailable.")}[status]()

    def slow_next(self, method: str, seconds: float, times: int = 1) -> None:
        self.slow[method].extend([seconds] * times)

    # ---- helpers ---------------------------------------------------------------------
    def _mint(self, principal: str) -> str:
        self._serial += 1
        token = f"ya29.fake-{self._serial}-{principal.split(':')[-1]}"
        self.issued[token] = principal
        return token

    def sign(self, claims: dict) -> str:
        return jwt.encode(self.signer, claims).decode()

    def id_token(self, email: str, audience: str, include_email: bool) -> str:
        now = int(time.time())
        sub = str(int.from_bytes(email.encode()[:8].ljust(8, b"x"), "big") % 10**21)
        claims = {"aud": audience, "azp": sub, "exp": now + 3600, "iat": now,
                  "iss": "https://accounts.google.com", "sub": sub}
        if include_email:
            claims.update(email=email, email_verified=True)
        return self.sign(claims)

    def caller(self, request: web.Request) -> str | None:
        auth = request.headers.get("Authorization", "")
        return self.issued.get(auth.removeprefix("Bearer ")) if auth.startswith("Bearer ") \
            else None

    # ---- OAuth2 and STS --------------------------------------------------------------
    async def token(self, request: web.Request) -> web.Response:
        self.calls["token"] += 1
        scripted = self.scripted("token")
        if scripted is not None:
            return scripted
        form = await request.post()
        grant = form.get("grant_type")
        if grant == "refresh_token":
            if form.get("refresh_token") == REVOKED_REFRESH_TOKEN:
                return oauth_error("invalid_grant", "Token has been expired or revoked.")
            if (form.get("client_id"), form.get("client_secret"), form.get("refresh_token")) \
                    != (CLIENT_ID, CLIENT_SECRET, REFRESH_TOKEN):
                return oauth_error("invalid_client", "The OAuth client was not found.", 401)
            return web.json_response({"access_token": self._mint(f"user:{USER}"),
                                      "expires_in": 3599, "token_type": "Bearer",
                                      "scope": "https://www.googleapis.com/auth/cloud-platform"})
        if grant == "urn:ietf:params:oauth:grant-type:jwt-bearer":
            assertion = str(form.get("assertion", ""))
            issuer = jwt.decode(assertion, verify=False).get("iss", "")
            if issuer not in self.sa_keys:
                return oauth_error("invalid_grant", "Invalid JWT Signature.")
            try:
                claims = jwt.decode(assertion, certs=self.sa_keys[issuer])
            except ValueError:
                return oauth_error("invalid_grant", "Invalid JWT Signature.")
            if "target_audience" in claims:
                self.calls["token:id_token"] += 1
                return web.json_response(
                    {"id_token": self.id_token(issuer, claims["target_audience"], True)})
            return web.json_response({"access_token": self._mint(f"serviceAccount:{issuer}"),
                                      "expires_in": 3599, "token_type": "Bearer"})
        return oauth_error("unsupported_grant_type", f"Invalid grant_type: {grant}")

    async def sts(self, request: web.Request) -> web.Response:
        self.calls["sts"] += 1
        form = await request.post()
        if form.get("subject_token") != SUBJECT_TOKEN:
            return oauth_error("invalid_grant", "The subject token is invalid.")
        return web.json_response({
            "access_token": self._mint("principal:workload"),
            "issued_token_type": "urn:ietf:params:oauth:token-type:access_token",
            "token_type": "Bearer", "expires_in": 3600})

    # ---- IAM Credentials -------------------------------------------------------------
    async def iam(self, request: web.Request) -> web.Response:
        started = time.perf_counter()
        try:
            return await self._iam(request)
        finally:
            self.latencies.append(time.perf_counter() - started)

    async def _iam(self, request: web.Request) -> web.Response:
        email, _, method = request.match_info["name"].partition(":")
        self.calls[method] += 1
        delay = self.slow[method].pop(0) if self.slow[method] else self.delay
        if delay:
            await asyncio.sleep(delay)
        scripted = self.scripted(method)
        if scripted is not None:
            return scripted
        if self.caller(request) is None:
            return error(401, "UNAUTHENTICATED", "Request had invalid authentication "
                         "credentials. Expected OAuth 2 access token, login cookie or other "
                         "valid authentication credential.")
        try:
            body = await request.json()
        except ValueError:
            return error(400, "INVALID_ARGUMENT", "Invalid JSON payload received.")
        self.requests.append({"method": method, "email": email, **body})
        chain = [d.rsplit("/", 1)[-1] for d in body.get("delegates", [])] + [email]
        permission = {"generateAccessToken": "iam.serviceAccounts.getAccessToken",
                      "generateIdToken": "iam.serviceAccounts.getOpenIdToken",
                      "signBlob": "iam.serviceAccounts.signBlob",
                      "signJwt": "iam.serviceAccounts.signJwt"}.get(method)
        if permission is None:
            return error(404, "NOT_FOUND", f"Method not found: {method}")
        if any(account not in self.granted for account in chain):
            return denied(permission)
        if method == "generateAccessToken":
            lifetime = int(str(body.get("lifetime", "3600s")).rstrip("s"))
            if lifetime > 3600:
                return error(400, "INVALID_ARGUMENT", "The lifetime of the requested token "
                             "must be between 1s and 3600s.")
            if not body.get("scope"):
                return error(400, "INVALID_ARGUMENT", "Scope must be specified.")
            return web.json_response({
                "accessToken": self._mint(f"serviceAccount:{email}"),
                "expireTime": rfc3339(time.time() + lifetime)})
        if method == "generateIdToken":
            if not body.get("audience"):
                return error(400, "INVALID_ARGUMENT", "Audience must be specified.")
            return web.json_response({"token": self.id_token(
                email, body["audience"], bool(body.get("includeEmail")))})
        if method == "signBlob":
            blob = base64.b64decode(body.get("payload", ""))
            signed = base64.b64encode(self.signer.sign(blob)).decode()
            return web.json_response({"keyId": self.key_id, "signedBlob": signed})
        claims = json.loads(body.get("payload", "{}"))
        return web.json_response({"keyId": self.key_id, "signedJwt": self.sign(claims)})

    # ---- Storage ---------------------------------------------------------------------
    async def buckets(self, request: web.Request) -> web.Response:
        self.calls["storage.buckets.list"] += 1
        principal = self.caller(request)
        if principal is None:
            return error(401, "UNAUTHENTICATED", "Invalid Credentials")
        self.calls[f"storage by {principal}"] += 1
        return web.json_response({"kind": "storage#buckets", "items": [
            {"kind": "storage#bucket", "id": BUCKET, "name": BUCKET,
             "projectNumber": "123456789012", "location": "US"}]})
