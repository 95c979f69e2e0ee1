"""Which upstream mints tokens, decided once at start from `emulator.credentials` and ADC:
impersonate where ADC exists and an account is configured or implied, else local."""

from __future__ import annotations

import dataclasses
import logging
import os
from pathlib import Path

from ..config import ConfigError, ServiceAccount, Settings
from . import adc as adc_files
from .service import LocalUpstream, TokenService
from .signing import Signing

log = logging.getLogger("gce_metadata_emulator")
NO_ADC = ("no Application Default Credentials were found (GOOGLE_APPLICATION_CREDENTIALS is "
          "unset and gcloud's application_default_credentials.json does not exist): run "
          "`gcloud auth application-default login`, or set emulator.credentials: local")


def resolve(settings: Settings,
            environ: dict[str, str] | os._Environ) -> tuple[Settings, adc_files.Adc | None]:
    """The settings with the account ADC implies (an impersonated ADC's target, a key's own
    account) when the config names none, and the ADC to impersonate with, if any."""
    mode = settings.emulator.credentials
    if mode == "local":
        return settings, None
    path = adc_files.find(environ)
    if path is None:
        if mode == "impersonate":
            raise ConfigError(settings.source, "emulator.credentials", f"is impersonate, but "
                              f"{NO_ADC}")
        return settings, None
    try:
        found = adc_files.load(path)
    except adc_files.AdcError as exc:
        raise ConfigError(settings.source, "emulator.credentials",
                          f"{exc} (or set emulator.credentials: local to ignore ADC)") from None
    if not settings.accounts and found.implied_account:
        implied = ServiceAccount(found.implied_account, delegates=found.implied_delegates)
        settings = dataclasses.replace(settings, accounts=(implied,))
    if not settings.accounts:
        if mode == "impersonate":
            raise ConfigError(settings.source, "service-accounts", "name the service account "
                              "to impersonate (service-accounts: or --service-account EMAIL)")
        log.warning("ADC found (%s) but no service account is configured to impersonate; "
                    "tokens are local. Name one with --service-account EMAIL", found.kind)
        return settings, None
    return settings, found


def signing_for(settings: Settings) -> Signing:
    """The configured signing key (a path relative to the config file), read and checked at
    start; else a new key, made when first needed."""
    if settings.emulator.signing_key is None:
        return Signing()
    from .local import LocalSigner

    path = Path(settings.emulator.signing_key).expanduser()
    if not path.is_absolute() and settings.path is not None:
        path = settings.path.parent / path
    try:
        return Signing(LocalSigner.from_file(path))
    except ValueError as exc:
        raise ConfigError(settings.source, "emulator.signing-key", str(exc)) from None


def token_service(settings: Settings, found: adc_files.Adc | None) -> TokenService:
    """The service for the mode resolve() chose; google-auth and the IAM client are imported
    only when tokens are real."""
    signing = signing_for(settings)
    if found is None:
        return TokenService(settings, LocalUpstream(signing), signing)
    from .caller import Caller
    from .iam import ImpersonateUpstream

    endpoints = settings.emulator.endpoints
    try:
        caller = Caller(found, endpoints["oauth2-token"], settings.emulator.upstream_timeout)
    except adc_files.AdcError as exc:
        raise ConfigError(settings.source, "emulator.credentials", str(exc)) from None
    upstream = ImpersonateUpstream(caller, endpoints["iam-credentials"],
                                   settings.emulator.upstream_timeout)
    return TokenService(settings, upstream, signing)
