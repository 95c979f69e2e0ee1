"""Command line: `serve` (the default), `env-init`, `doctor`.

Exit status 2 for anything the user must fix before starting (a flag, the config file, missing
credentials the config demands), with one message and no traceback.
"""

from __future__ import annotations

import argparse
import asyncio
import gc
import logging
import signal
import sys
from pathlib import Path

from . import config
from .config import ConfigError, Settings
from .defaults import accounts_of

COMMANDS = ("serve", "env-init", "doctor")
log = logging.getLogger("gce_metadata_emulator")


def parser() -> argparse.ArgumentParser:
    top = argparse.ArgumentParser(
        prog="gce-metadata-emulator",
        description="A local emulator of the Google Compute Engine metadata server.")
    sub = top.add_subparsers(dest="command", metavar="{serve,env-init,doctor}")
    for name, help_text in (
        ("serve", "serve the metadata server (what runs when no command is given)"),
        ("env-init", "print export lines that point clients at the emulator; eval them"),
        ("doctor", "check the developer's ADC and the configured accounts' impersonation"),
    ):
        cmd = sub.add_parser(name, help=help_text, description=help_text)
        cmd.add_argument("--config", type=Path, metavar="FILE",
                         help="YAML config (default: the embedded config/default.yaml)")
        cmd.add_argument("--project", metavar="ID", help="project id (overrides the config)")
        cmd.add_argument("--service-account", metavar="EMAIL",
                         help="the default service account (overrides the config's first)")
        if name in ("serve", "env-init"):
            cmd.add_argument("--host", default="127.0.0.1",
                             help="address to bind (default 127.0.0.1; 0.0.0.0 in a container)")
            cmd.add_argument("--port", type=port, default=8080,
                             help="port to bind (default 8080; 0 takes a free port)")
        cmd.add_argument("--log-level", default="info",
                         choices=("debug", "info", "warning", "error"),
                         help="log verbosity on stderr (debug adds an access log)")
    return top


def port(value: str) -> int:
    if not value.isdigit() or int(value) > 65535:
        raise argparse.ArgumentTypeError(f"{value!r} is not a port number (0 to 65535)")
    return int(value)


def main(argv: list[str] | None = None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    if not argv or (argv[0] not in COMMANDS and argv[0] not in ("-h", "--help")):
        argv.insert(0, "serve")
    args = parser().parse_args(argv)
    logging.basicConfig(level=args.log_level.upper(), stream=sys.stderr,
                        format="%(asctime)s %(levelname)s %(name)s: %(message)s")

    def load() -> Settings:
        return config.load(args.config, project=args.project,
                           service_account=args.service_account)

    try:
        if args.command == "env-init":
            load()
            print(env_lines(client_address(args.host, args.port)))
            return 0
        if args.command == "doctor":
            from .doctor import run

            return run(load())
        return serve(load, args.host, args.port, args.log_level == "debug")
    except ConfigError as exc:
        print(f"gce-metadata-emulator: {exc}", file=sys.stderr)
        return 2


def client_address(host: str, bound_port: int) -> str:
    """host:port a client on this machine uses; a wildcard bind is reached on loopback."""
    if host in ("0.0.0.0", "", "::"):
        host = "127.0.0.1"
    if ":" in host:
        host = f"[{host}]"
    return f"{host}:{bound_port}"


def env_lines(address: str) -> str:
    return "\n".join(f"export {var}={address}" for var in (
        "GCE_METADATA_HOST", "GCE_METADATA_IP", "GCE_METADATA_ROOT")) + \
        "\nexport GCE_METADATA_MTLS_MODE=none"


def serve(load, host: str, bind_port: int, access_log: bool) -> int:
    from .connections import raise_descriptor_limit
    from .runtime import Emulator

    emulator = Emulator(load)
    raise_descriptor_limit()
    try:
        return asyncio.run(run_server(emulator, host, bind_port, access_log))
    except OSError as exc:
        print(f"gce-metadata-emulator: cannot listen on {host}:{bind_port}: {exc.strerror}; "
              "pick another --port (0 takes a free one)", file=sys.stderr)
        return 1


async def run_server(emulator, host: str, bind_port: int, access_log: bool) -> int:
    from .connections import DescriptorGuard

    loop = asyncio.get_running_loop()
    loop.set_exception_handler(DescriptorGuard())
    try:
        bound = await emulator.listen(
            host, bind_port, logging.getLogger("aiohttp.access") if access_log else None)
        gc.freeze()  # what start-up built lives as long as the process: no GC rescans it
        address = client_address(host, bound)
        exposed = emulator.tokens.mode != "local" and not is_loopback_bind(host)
        print(banner(emulator.settings, emulator.tokens.mode, address, exposed), flush=True)
        warn_about_tokens(emulator.settings, emulator.tokens.mode, host)
        stop = asyncio.Event()
        for sig in (signal.SIGINT, signal.SIGTERM):
            loop.add_signal_handler(sig, stop.set)
        await stop.wait()
        log.info("shutting down")
    finally:
        await emulator.close()
    return 0


def is_loopback_bind(host: str) -> bool:
    from .admin import is_loopback

    return host == "localhost" or is_loopback(host or "0.0.0.0")


def banner(settings: Settings, mode: str, address: str, exposed: bool = False) -> str:
    accounts = ", ".join(a.email for a in accounts_of(settings))
    return (f"gce-metadata-emulator serving http://{address}/computeMetadata/v1/ "
            f"(project {settings.project_id}, tokens: {mode} for {accounts}); clients need: "
            + " ".join(f"{var}={address}" for var in
                       ("GCE_METADATA_HOST", "GCE_METADATA_IP", "GCE_METADATA_ROOT"))
            + ("  !! REAL TOKENS ARE SERVED TO THE NETWORK !!" if exposed else ""))


def warn_about_tokens(settings: Settings, mode: str, host: str) -> None:
    accounts = ", ".join(a.email for a in accounts_of(settings))
    if mode != "local" and not is_loopback_bind(host):
        log.warning("REAL TOKENS ON THE NETWORK: bound to %s, so anything that reaches this "
                    "port gets access and ID tokens of %s, minted with YOUR credentials. Bind "
                    "127.0.0.1 (or publish the container port on 127.0.0.1 only) unless that "
                    "is what you want", host, accounts)
    if mode == "local":
        log.warning("LOCAL TOKENS: access and ID tokens are minted by the emulator itself and "
                    "are NOT accepted by Google APIs; accounts: %s. For real tokens, run "
                    "`gcloud auth application-default login` and set emulator.credentials: "
                    "impersonate", accounts)
    else:
        log.info("tokens are real: impersonating %s with your Application Default "
                 "Credentials (%s)", accounts, mode)
    if settings.project_id_from == "placeholder":
        log.warning("no project configured: serving the placeholder project %r; set "
                    "project.project-id, --project or GOOGLE_CLOUD_PROJECT",
                    settings.project_id)
