"""Local (offline) tokens: opaque access tokens and RS256 ID tokens signed by the emulator's
own key, whose public half is served as JWKS so services under test can verify them."""

from __future__ import annotations

import base64
import datetime
import hashlib
import time
from pathlib import Path

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import rsa
from google.auth import crypt, jwt

from .errors import TokenError

ISSUER = "https://accounts.google.com"


def unique_id(email: str) -> str:
    """A stable 21-digit numeric id for an account, the shape of Google's `sub`."""
    digest = int.from_bytes(hashlib.sha256(email.encode()).digest()[:9], "big")
    return str(10**20 + digest % (9 * 10**20))


class LocalSigner:
    def __init__(self, pem: bytes | None = None) -> None:
        if pem is None:
            key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
            pem = key.private_bytes(serialization.Encoding.PEM,
                                    serialization.PrivateFormat.PKCS8,
                                    serialization.NoEncryption())
        private = serialization.load_pem_private_key(pem, password=None)
        if not isinstance(private, rsa.RSAPrivateKey):
            raise ValueError("the signing key must be an RSA private key")
        public = private.public_key()
        der = public.public_bytes(serialization.Encoding.DER,
                                  serialization.PublicFormat.SubjectPublicKeyInfo)
        self.key_id = hashlib.sha256(der).hexdigest()[:40]
        self._signer = crypt.RSASigner.from_string(pem, key_id=self.key_id)
        numbers = public.public_numbers()
        self.jwk = {"kty": "RSA", "alg": "RS256", "use": "sig", "kid": self.key_id,
                    "n": b64(numbers.n), "e": b64(numbers.e)}
        self.certificate_pem = self_signed(private, self.key_id)

    @classmethod
    def from_file(cls, path: Path) -> LocalSigner:
        try:
            return cls(path.read_bytes())
        except OSError as exc:
            raise ValueError(f"cannot read the signing key {path}: {exc.strerror}") from None
        except (ValueError, TypeError) as exc:
            raise ValueError(f"{path} is not an unencrypted PEM RSA private key ({exc})") from None

    def id_token(self, email: str, audience: str, extra: dict | None,
                 lifetime: int = 3600) -> tuple[str, float]:
        now = int(time.time())
        sub = unique_id(email)
        claims = {"aud": audience, "azp": sub, "exp": now + lifetime, "iat": now,
                  "iss": ISSUER, "sub": sub, **(extra or {})}
        try:
            token = jwt.encode(self._signer, claims).decode()
        except Exception as exc:  # pragma: no cover - signing a dict with a valid key
            raise TokenError(503, f"local signing failed: {type(exc).__name__}") from None
        return token, float(now + lifetime)


def b64(number: int) -> str:
    raw = number.to_bytes((number.bit_length() + 7) // 8, "big")
    return base64.urlsafe_b64encode(raw).rstrip(b"=").decode()


def self_signed(key: rsa.RSAPrivateKey, key_id: str) -> str:
    """A certificate for the `{kid: PEM}` format of Google's v1 certs endpoint."""
    name = x509.Name([x509.NameAttribute(x509.oid.NameOID.COMMON_NAME, key_id)])
    now = datetime.datetime.now(datetime.UTC)
    cert = (x509.CertificateBuilder().subject_name(name).issuer_name(name)
            .public_key(key.public_key()).serial_number(int(key_id[:16], 16))
            .not_valid_before(now - datetime.timedelta(days=1))
            .not_valid_after(now + datetime.timedelta(days=3650))
            .sign(key, hashes.SHA256()))
    return cert.public_bytes(serialization.Encoding.PEM).decode()
