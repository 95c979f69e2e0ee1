"""`gce-metadata-emulator doctor`: can this machine mint real tokens for the configured
accounts? Reads ADC, asks IAM once per account (no cache), and prints what fixes a failure."""

from __future__ import annotations

import asyncio
import os
import time

from .config import ConfigError, Settings
from .credentials.errors import TokenError
from .credentials.select import resolve, token_service
from .defaults import accounts_of

LABELS = ("project", "application default creds", "token mode when serving")


class Table:
    """Rows of label, verdict, detail; the label column fits the longest account email."""

    def __init__(self, labels: list[str]) -> None:
        self.width = max(len(label) for label in labels)

    def __call__(self, label: str, verdict: str, detail: str) -> str:
        return f"  {label:<{self.width}} {verdict:<5} {detail}"


def run(settings: Settings, environ: dict[str, str] | None = None) -> int:
    environ = dict(os.environ) if environ is None else environ
    print(f"gce-metadata-emulator doctor ({settings.source})")
    row = Table([*LABELS, *(a.email for a in accounts_of(settings))])
    print(row("project", "", f"{settings.project_id} (from {settings.project_id_from})"))
    forced = settings if settings.emulator.credentials == "impersonate" else \
        _with_mode(settings, "impersonate")
    try:
        forced, found = resolve(forced, environ)
    except ConfigError as exc:
        print(row("application default creds", "FAIL", str(exc).split(": ", 2)[-1]))
        print(row("", "fix:", "gcloud auth application-default login"))
        return 1
    assert found is not None
    quota = f", quota project {found.quota_project}" if found.quota_project else ""
    print(row("application default creds", "PASS", found.describe() + quota))
    print(row("token mode when serving", "", settings.emulator.credentials + (
        " (impersonate: ADC found)" if settings.emulator.credentials == "auto" else "")))
    return asyncio.run(_accounts(forced, found, Table([*LABELS, *(
        a.email for a in accounts_of(forced))])))


async def _accounts(settings: Settings, found, row: Table) -> int:
    service = token_service(settings, found)
    failures = 0
    try:
        for account in accounts_of(settings):
            try:
                token = await service.upstream.access_token(
                    account, account.scopes, settings.emulator.token_lifetime)
                print(row(account.email, "PASS", "access token minted, expires in "
                          f"{int(token.expiry - time.time())} s"))
            except TokenError as exc:
                failures += 1
                print(row(account.email, "FAIL", exc.message))
                if exc.fix:
                    print(row("", "fix:", exc.fix))
    finally:
        await service.close()
    print(f"{'all accounts can be impersonated' if not failures else f'{failures} failed'}")
    return 1 if failures else 0


def _with_mode(settings: Settings, mode: str) -> Settings:
    import dataclasses

    return dataclasses.replace(settings, emulator=dataclasses.replace(settings.emulator,
                                                                      credentials=mode))
