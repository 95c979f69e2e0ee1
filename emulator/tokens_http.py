"""The HTTP view of the token service: `token` and `identity` leaves, and the public documents
that let a service under test verify the emulator's local ID tokens."""

from __future__ import annotations

import time

from aiohttp import web

from .credentials.errors import TokenError
from .credentials.service import TokenService
from .responses import COMMON_HEADERS, document, method_not_allowed, reply, text
from .tree import JSON, TEXT, BadQuery, Computed

DISCOVERY = "/emulator/.well-known/openid-configuration"
JWKS = "/emulator/jwks"
CERTS = "/emulator/certs"
CACHEABLE = {"Cache-Control": "public, max-age=300"}


async def respond(request: web.BaseRequest, service: TokenService, computed: Computed,
                  identity_type: str = TEXT, base: dict[str, str] = COMMON_HEADERS
                  ) -> web.Response:
    """identity_type: the Content-Type of an ID token, which differs by platform (text/html
    on a VM, application/text on Cloud Run)."""
    if request.method not in ("GET", "HEAD") and not (
            request.method == "POST" and computed.kind == "token"):
        return method_not_allowed()
    try:
        if computed.kind == "token":
            return await access_token(request, service, computed.account, base)
        return await identity(request, service, computed.account, identity_type, base)
    except TokenError as exc:
        return text(exc.status, exc.message)


async def access_token(request: web.BaseRequest, service: TokenService, email: str,
                       base: dict[str, str] = COMMON_HEADERS) -> web.Response:
    raw = request.query.get("scopes") if request.query_string else None
    scopes = tuple(s.strip() for s in raw.split(",") if s.strip()) if raw else None
    cached = email in service.accounts and service.is_cached(service.access_key(email, scopes))
    token = await service.access_token(email, scopes)
    response = reply(200, token.access_body(time.time()), JSON, base)
    response.detail = ("token", email, scopes or service.default_scopes.get(email), cached)
    return response


async def identity(request: web.BaseRequest, service: TokenService, email: str,
                   content_type: str = TEXT, base: dict[str, str] = COMMON_HEADERS
                   ) -> web.Response:
    audience = request.query.get("audience", "")
    if not audience:
        raise BadQuery("non-empty audience parameter required")
    fmt = request.query.get("format", "standard")
    if fmt not in ("standard", "full"):
        raise BadQuery(f"invalid value for format: {fmt!r}; use format=standard or format=full")
    licenses = request.query.get("licenses", "FALSE").upper()
    if licenses not in ("TRUE", "FALSE"):
        raise BadQuery(f"invalid value for licenses: {licenses!r}; use licenses=TRUE or FALSE")
    key = ("identity", email, audience, fmt == "full", licenses == "TRUE")
    cached = service.is_cached(key)
    token = await service.id_token(email, *key[2:])
    response = reply(200, token.value.encode(), content_type, base)
    response.detail = ("identity", email, audience, cached)
    return response


def base_url(request: web.BaseRequest) -> str:
    return f"{request.scheme}://{request.host}"


async def discovery(request: web.BaseRequest, service: TokenService) -> web.Response:
    """OpenID discovery for the local signer, so verifiers find the JWKS as they do Google's."""
    base = base_url(request)
    doc = {"issuer": "https://accounts.google.com",
           "jwks_uri": base + JWKS,
           "x509_certs_uri": base + CERTS,
           "id_token_signing_alg_values_supported": ["RS256"],
           "subject_types_supported": ["public"],
           "response_types_supported": ["id_token"],
           "claims_supported": ["aud", "azp", "email", "email_verified", "exp", "iat", "iss",
                                "sub", "google"]}
    return document(doc, **CACHEABLE)


async def jwks(request: web.BaseRequest, service: TokenService) -> web.Response:
    signer = await service.signing.get()
    return document({"keys": [signer.jwk]}, **CACHEABLE)


async def certs(request: web.BaseRequest, service: TokenService) -> web.Response:
    signer = await service.signing.get()
    return document({signer.key_id: signer.certificate_pem}, **CACHEABLE)


PUBLIC_ROUTES = {DISCOVERY: discovery, JWKS: jwks, CERTS: certs}
