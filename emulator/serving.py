"""`serve` as a process: bind, print the banner, warn about the tokens, serve until SIGINT,
SIGTERM or SIGHUP (or, for `exec`, until its command ends); plus what points clients at it
(env-init, exec) and the container health check."""

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


def client_env(address: str) -> dict[str, str]:
    """What points every client library at the emulator: the address, no mTLS, and no
    detection probe (Node's gcp-metadata)."""
    return {**dict.fromkeys(CLIENT_VARIABLES, address), "GCE_METADATA_MTLS_MODE": "none",
            "METADATA_SERVER_DETECTION": "assume-present"}


def env_lines(address: str) -> str:
    return "\n".join(f"export {var}={value}" for var, value in client_env(address).items())


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


def serve(load, host: str, bind_port: int, access_log: bool, loop: str = "auto", *,
          link_local: bool = False, then=None) -> int:
    """Serve until a stop signal, or, given `then` (an async function of the client address
    returning an exit status), until it returns. With link_local, the address is set up
    first and taken down after, whatever ends the serving."""
    from .connections import raise_descriptor_limit
    from .runtime import Emulator

    emulator = Emulator(load)
    raise_descriptor_limit()
    # Until the loop's own handlers are in place, SIGTERM and SIGHUP unwind like Ctrl-C does.
    for sig in STOP_SIGNALS[1:]:
        signal.signal(sig, interrupted)
    setup = None
    try:
        if link_local:
            setup = link_local_setup()
        with asyncio.Runner(loop_factory=lambda: new_loop(loop)) as runner:
            return runner.run(run_server(emulator, host, bind_port, access_log, then))
    except OSError as exc:
        print(f"gce-metadata-emulator: {bind_error(exc, host, bind_port)}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        return 130
    finally:
        if setup is not None:
            for left in setup.undo():
                print(f"gce-metadata-emulator: could not undo: {left}", file=sys.stderr)


STOP_SIGNALS = (signal.SIGINT, signal.SIGTERM, signal.SIGHUP)


def interrupted(signum, frame) -> None:
    raise KeyboardInterrupt


def link_local_setup():
    """The link-local address and names set up, or SystemExit(2) saying what to do."""
    from .linklocal import LinkLocal, LinkLocalError

    setup = LinkLocal()
    try:
        setup.apply()
    except LinkLocalError as exc:
        print(f"gce-metadata-emulator: {exc}", file=sys.stderr)
        raise SystemExit(2) from None
    for note in setup.notes:
        log.info("--link-local: %s (undone when the emulator stops)", note)
    return setup


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


async def run_server(emulator, host: str, bind_port: int, access_log: bool, then=None) -> int:
    from .connections import DescriptorGuard

    loop = asyncio.get_running_loop()
    loop.set_exception_handler(DescriptorGuard())
    try:
        bound = await emulator.listen(
            host, bind_port, logging.getLogger("aiohttp.access") if access_log else None)
        gc.freeze()  # what start-up built lives as long as the process: no GC rescans it
        address = client_address(host, bound)
        exposed = emulator.tokens.mode != "local" and not is_loopback_bind(host)
        text = banner(emulator.settings, emulator.tokens.mode, address, exposed,
                      also_at(host, bound))
        warn_about_tokens(emulator.settings, emulator.tokens.mode, host)
        if then is not None:  # exec: the command's stdout is not ours to print on
            log.info("%s", text)
            return await then(address, emulator.settings)
        stop = asyncio.Event()
        for sig in STOP_SIGNALS:  # before the banner: whoever read it may stop us at once
            loop.add_signal_handler(sig, stop.set)
        print(text, flush=True)
        await stop.wait()
        log.info("shutting down")
    finally:
        await emulator.close()
    return 0


def is_loopback_bind(host: str) -> bool:
    from .admin import is_loopback

    return host == "localhost" or is_loopback(host or "0.0.0.0")


def also_at(host: str, bound_port: int) -> list[str]:
    """For a wildcard bind, the other addresses of this machine that clients may use (in a
    container: its address on the compose network)."""
    if host not in ("0.0.0.0", "", "::"):
        return []
    try:
        infos = socket.getaddrinfo(socket.gethostname(), None, socket.AF_INET,
                                   socket.SOCK_STREAM)
    except OSError:
        return []
    found = dict.fromkeys(info[4][0] for info in infos)
    return [f"{ip}:{bound_port}" for ip in found if not ip.startswith("127.")]


def banner(settings: Settings, mode: str, address: str, exposed: bool = False,
           also: list[str] | None = None) -> str:
    from .linklocal import ADDRESS, PORT

    accounts = ", ".join(a.email for a in accounts_of(settings))
    real = f"{ADDRESS}:{PORT}"
    if address == real:
        clients = ("clients need no variable: this is the real metadata address "
                   "(metadata.google.internal)")
    else:
        clients = "clients need: " + " ".join(f"{var}={address}" for var in CLIENT_VARIABLES)
    others = [a for a in also or () if a != address]
    if others:
        clients += "; also reached at " + ", ".join(others)
        if real in others:
            clients += (f" ({real} is the real metadata address: clients that reach it as "
                        "metadata.google.internal need no variable)")
    return (f"gce-metadata-emulator serving http://{address}/computeMetadata/v1/ "
            f"(project {settings.project_id}, profile {settings.emulator.profile}, tokens: "
            f"{mode} for {accounts}); {clients}"
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
    from .profiles import PROFILES, ignored

    left_out = ignored(PROFILES[settings.emulator.profile], settings.instance,
                       settings.project)
    if left_out:
        log.warning("profile %s: its metadata server does not serve %s, so the config's "
                    "values there are not served", settings.emulator.profile,
                    ", ".join(left_out))
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
