"""`serve` as a process: bind, print the banner, warn about the tokens, serve until SIGINT or
SIGTERM; plus what points clients at it (env-init) and the container health check."""

from __future__ import annotations

import asyncio
import errno
import gc
import logging
import signal
import socket
import sys

from .config import Settings
from .defaults import accounts_of

log = logging.getLogger("gce_metadata_emulator")
CLIENT_VARIABLES = ("GCE_METADATA_HOST", "GCE_METADATA_IP", "GCE_METADATA_ROOT")


def client_address(host: str, bound_port: int) -> str:
    """host:port a client on this machine uses; a wildcard bind is reached on loopback."""
    if host in ("0.0.0.0", "", "::"):
        host = "127.0.0.1"
    if ":" in host:
        host = f"[{host}]"
    return f"{host}:{bound_port}"


def env_lines(address: str) -> str:
    return "\n".join(f"export {var}={address}" for var in CLIENT_VARIABLES) + \
        "\nexport GCE_METADATA_MTLS_MODE=none"


def new_loop(choice: str) -> asyncio.AbstractEventLoop:
    """uvloop when asked for, or when installed and the choice is auto."""
    if choice != "asyncio":
        try:
            import uvloop
        except ImportError:
            if choice == "uvloop":
                raise SystemExit("gce-metadata-emulator: --loop uvloop: uvloop is not "
                                 "installed; pip install 'gce-metadata-emulator[speed]'") from None
        else:
            return uvloop.new_event_loop()
    return asyncio.new_event_loop()


def serve(load, host: str, bind_port: int, access_log: bool, loop: str = "auto") -> int:
    from .connections import raise_descriptor_limit
    from .runtime import Emulator

    emulator = Emulator(load)
    raise_descriptor_limit()
    try:
        with asyncio.Runner(loop_factory=lambda: new_loop(loop)) as runner:
            return runner.run(run_server(emulator, host, bind_port, access_log))
    except OSError as exc:
        print(f"gce-metadata-emulator: {bind_error(exc, host, bind_port)}", file=sys.stderr)
        return 1


def bind_error(exc: OSError, host: str, bind_port: int) -> str:
    """Which flag to change: a port in use or reserved is the port's fault, an address this
    machine does not have is the host's."""
    where = f"cannot listen on {host}:{bind_port}"
    if isinstance(exc, socket.gaierror):
        return f"{where}: --host {host!r} is not a name this machine can resolve"
    if exc.errno == errno.EADDRNOTAVAIL:
        return (f"{where}: --host {host} is not an address of this machine; use 127.0.0.1, "
                "0.0.0.0 (every address) or one that `ip addr` lists")
    if exc.errno == errno.EADDRINUSE:
        return f"{where}: the port is in use; pick another --port (0 takes a free one)"
    if exc.errno == errno.EACCES:
        return (f"{where}: ports below 1024 need root (or CAP_NET_BIND_SERVICE); pick "
                "another --port")
    return f"{where}: {exc.strerror or exc}"


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
            + " ".join(f"{var}={address}" for var in CLIENT_VARIABLES)
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


def health(host: str, bind_port: int) -> int:
    import urllib.request

    url = f"http://{client_address(host, bind_port)}/emulator/health"
    try:
        with urllib.request.urlopen(url, timeout=3) as resp:
            ok = resp.status == 200
    except OSError as exc:
        print(f"gce-metadata-emulator: no emulator answers at {url}: {exc}", file=sys.stderr)
        return 1
    return 0 if ok else 1
