"""`gce-metadata-emulator doctor`: which tokens `serve` would mint with this config on this
machine, and, when they would be real, whether IAM mints them for every configured account
(one call each, no cache). It decides the mode exactly as `serve` does, and suggests only
what would change something."""

from __future__ import annotations

import asyncio
import os
import time

from .config import ConfigError, Settings
from .credentials.adc import LOGIN, find
from .credentials.errors import TokenError
from .credentials.select import resolve, token_service
from .defaults import accounts_of

LABELS = ("project", "profile", "application default creds", "tokens when serving")
PROFILE_LINES = {
    "gce": "gce: the metadata server of a Compute Engine VM",
    "gke": "gke: the GKE metadata server of a pod (Workload Identity)",
    "cloud-run": "cloud-run: the metadata server of a Cloud Run container",
}


class Table:
    """Rows of label, verdict, detail; the label column fits the longest account email."""

    def __init__(self, labels: list[str]) -> None:
        self.width = max(len(label) for label in labels)

    def __call__(self, label: str, verdict: str, detail: str) -> str:
        return f"  {label:<{self.width}} {verdict:<5} {detail}".rstrip()


def run(settings: Settings, environ: dict[str, str] | None = None) -> int:
    environ = dict(os.environ) if environ is None else environ
    mode = settings.emulator.credentials
    print(f"gce-metadata-emulator doctor ({settings.source})")
    try:
        resolved, found = resolve(settings, environ)
        failure = None
    except ConfigError as exc:  # credentials: impersonate, and ADC is missing or broken
        resolved, found, failure = settings, None, str(exc).split(": ", 2)[-1]
    row = Table([*LABELS, *(a.email for a in accounts_of(resolved) if found is not None)])
    print(row("project", "", project_line(settings)))
    print(row("profile", "", PROFILE_LINES[settings.emulator.profile]))
    if failure is not None:
        print(row("application default creds", "FAIL", failure))
        print(row("", "fix:", LOGIN))
        return 1
    if found is None:
        print(row("application default creds", "",
                  "not read (emulator.credentials: local)" if mode == "local" else "none found"))
        print(row("tokens when serving", "PASS", local_reason(mode, environ)))
        return 0
    quota = f", quota project {found.quota_project}" if found.quota_project else ""
    print(row("application default creds", "PASS", found.describe() + quota))
    print(row("tokens when serving", "", "real: impersonated through IAM with these "
              f"credentials (emulator.credentials: {mode})"))
    return asyncio.run(check_accounts(resolved, found, row))


def project_line(settings: Settings) -> str:
    if settings.project_id_from == "placeholder":
        return (f"{settings.project_id} (a placeholder: no project is configured; set "
                "project.project-id, --project or GOOGLE_CLOUD_PROJECT)")
    return f"{settings.project_id} (from {settings.project_id_from})"


def local_reason(mode: str, environ: dict[str, str]) -> str:
    """Why tokens will be local, and what (if anything) would make them real."""
    if mode == "local":
        return "local, as the config asks; this needs nothing"
    if find(environ) is None:
        return ("local: no Application Default Credentials on this machine; that needs "
                f"nothing. For real tokens: `{LOGIN}`")
    return ("local: ADC found but no service account to impersonate; that needs nothing. For "
            "real tokens: name one with --service-account EMAIL or service-accounts:")


async def check_accounts(settings: Settings, found, row: Table) -> int:
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
                print(row(account.email, "FAIL", exc.detail))
                if exc.fix:
                    print(row("", "fix:", exc.fix))
    finally:
        await service.close()
    print("all accounts can be impersonated" if not failures else f"{failures} failed")
    return 1 if failures else 0
