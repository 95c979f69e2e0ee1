"""Which upstream mints tokens: decided once at start from `emulator.credentials` and ADC."""

from __future__ import annotations

from pathlib import Path

from ..config import ConfigError, Settings
from .local import LocalSigner
from .service import LocalUpstream, TokenService


def signer_for(settings: Settings) -> LocalSigner:
    """The configured signing key (a path relative to the config file), else a new key."""
    if settings.emulator.signing_key is None:
        return LocalSigner()
    path = Path(settings.emulator.signing_key).expanduser()
    if not path.is_absolute() and settings.path is not None:
        path = settings.path.parent / path
    try:
        return LocalSigner.from_file(path)
    except ValueError as exc:
        raise ConfigError(settings.source, "emulator.signing-key", str(exc)) from None


def token_service(settings: Settings) -> TokenService:
    signer = signer_for(settings)
    return TokenService(settings, LocalUpstream(signer), signer)
