"""Command line: the commands, their flags, and dispatch. `serve` runs when no command is given.

Exit status 2 for anything the user must fix before starting (a flag, the config file, missing
credentials the config demands), with one message and no traceback.
"""

from __future__ import annotations

import argparse
import difflib
import logging
import os
import sys
from collections.abc import Callable
from pathlib import Path
from typing import NoReturn

from . import __version__, config
from .config import ConfigError, Settings
from .verbs import VERBS

PROG = "gce-metadata-emulator"
HOST_ENV, PORT_ENV = "GCE_METADATA_EMULATOR_HOST", "GCE_METADATA_EMULATOR_PORT"


class Parser(argparse.ArgumentParser):
    """Errors as one line that says what to do, exit status 2."""

    def error(self, message: str) -> NoReturn:
        fail(f"{message}; see `{self.prog} --help`")


def fail(message: str) -> NoReturn:
    print(f"{PROG}: {message}", file=sys.stderr)
    raise SystemExit(2)


def port(value: str) -> int:
    if not value.isascii() or not value.isdigit() or int(value) > 65535:
        raise argparse.ArgumentTypeError(f"{value!r} is not a port number (0 to 65535)")
    return int(value)


def env_port() -> int:
    value = os.environ.get(PORT_ENV)
    if not value:
        return 8080
    try:
        return port(value)
    except argparse.ArgumentTypeError as exc:
        fail(f"${PORT_ENV}: {exc}")


def config_options(cmd: argparse.ArgumentParser) -> None:
    cmd.add_argument("--config", type=Path, metavar="FILE",
                     help="YAML config (default: the embedded config/default.yaml)")
    cmd.add_argument("--project", metavar="ID", help="project id (over the config's)")
    cmd.add_argument("--service-account", metavar="EMAIL",
                     help="the default service account (before the config's)")
    cmd.add_argument("--profile", choices=config.PROFILE_NAMES,
                     help="the platform whose metadata server to be: gce (the default), gke "
                     "or cloud-run (over the config's emulator.profile)")


def address_options(cmd: argparse.ArgumentParser, free_port: bool = False) -> None:
    """Defaults resolved by bind_address: they depend on the command and on --link-local."""
    if free_port:
        cmd.add_argument("--host", help="address to bind (default 127.0.0.1)")
        cmd.add_argument("--port", type=port, help="port to bind (default: a free port)")
        return
    cmd.add_argument("--host", help=f"address to bind (default 127.0.0.1, or ${HOST_ENV}; "
                     "0.0.0.0 in a container)")
    cmd.add_argument("--port", type=port,
                     help=f"port to bind (default 8080, or ${PORT_ENV}; 0 takes a free port)")


def log_option(cmd: argparse.ArgumentParser, default: str = "info") -> None:
    cmd.add_argument("--log-level", default=default,
                     choices=("debug", "info", "warning", "error"),
                     help=f"log verbosity on stderr (default {default}; debug adds an access "
                     "log)")


def serve_options(cmd: argparse.ArgumentParser, for_exec: bool = False) -> None:
    config_options(cmd)
    address_options(cmd, free_port=for_exec)
    log_option(cmd, "warning" if for_exec else "info")
    cmd.add_argument("--loop", default="auto", choices=("auto", "asyncio", "uvloop"),
                     help="event loop: auto uses uvloop when installed "
                     "(pip install gce-metadata-emulator[speed])")
    cmd.add_argument("--link-local", action="store_true",
                     help="serve at the real address, 169.254.169.254:80, and make "
                     "metadata.google.internal resolve to it; undone on exit (needs root)")


def exec_options(cmd: argparse.ArgumentParser) -> None:
    serve_options(cmd, for_exec=True)
    cmd.usage = f"{PROG} exec [SERVE OPTIONS] -- COMMAND [ARGS...]"
    cmd.epilog = ("COMMAND runs with GCE_METADATA_HOST, GCE_METADATA_IP, GCE_METADATA_ROOT, "
                  "GCE_METADATA_MTLS_MODE=none and METADATA_SERVER_DETECTION=assume-present "
                  "pointing at an emulator on a free loopback port (unless --host/--port "
                  "say otherwise); exec exits with COMMAND's status.")


def bind_address(args: argparse.Namespace) -> tuple[str, int]:
    """--host and --port, or their defaults: the real address for --link-local, a free
    loopback port for exec, else $GCE_METADATA_EMULATOR_HOST/PORT or 127.0.0.1:8080."""
    if getattr(args, "link_local", False):
        from .linklocal import ADDRESS, PORT

        if args.host is not None or args.port is not None:
            fail(f"--link-local serves at {ADDRESS}:{PORT}, the real address: drop --host "
                 "and --port, or drop --link-local")
        return ADDRESS, PORT
    if args.command == "exec":
        return args.host or "127.0.0.1", 0 if args.port is None else args.port
    return (args.host or os.environ.get(HOST_ENV) or "127.0.0.1",
            env_port() if args.port is None else args.port)


def env_init_options(cmd: argparse.ArgumentParser) -> None:
    config_options(cmd)
    address_options(cmd)


def doctor_options(cmd: argparse.ArgumentParser) -> None:
    config_options(cmd)


def health_options(cmd: argparse.ArgumentParser) -> None:
    address_options(cmd)


COMMANDS: dict[str, tuple[str, Callable[[argparse.ArgumentParser], None]]] = {
    "serve": ("serve the metadata server (the default command)", serve_options),
    "env-init": ("print export lines that point clients at the emulator; eval them",
                 env_init_options),
    "doctor": ("say which tokens `serve` would mint, and check impersonation if they are real",
               doctor_options),
    "health": ("exit 0 if an emulator answers at --host/--port (a container health check)",
               health_options),
    "exec": ("run a command against an emulator on a free port, with the variables that "
             "point clients at it; exit with its status", exec_options),
    **VERBS,
}


def parsers() -> tuple[Parser, dict[str, Parser]]:
    top = Parser(prog=PROG, add_help=False)
    top.add_argument("-h", "--help", action="store_true")
    top.add_argument("--version", action="version", version=f"{PROG} {__version__}")
    sub = top.add_subparsers(dest="command", parser_class=Parser)
    commands = {}
    for name, (help_text, options) in COMMANDS.items():
        commands[name] = sub.add_parser(name, help=help_text, description=help_text)
        options(commands[name])
    return top, commands


def top_help(commands: dict[str, Parser]) -> str:
    width = max(map(len, COMMANDS))
    listed = "\n".join(f"  {name:<{width}}  {text}" for name, (text, _) in COMMANDS.items())
    serve = commands["serve"].format_help().split("options:\n", 1)[1]
    return (f"usage: {PROG} [COMMAND] [OPTIONS]\n\n"
            "A local emulator of the Google Compute Engine metadata server.\n\n"
            f"commands:\n{listed}\n\n"
            f"serve options (also without the word serve: `{PROG} --port 9000`):\n{serve}\n"
            f"  --version             print the version and exit\n\n"
            f"`{PROG} COMMAND --help` lists a command's options; README.md has examples.\n")


def unknown(words: list[str], command: str, cmd: Parser) -> NoReturn:
    flags = sorted({s for action in cmd._actions for s in action.option_strings
                    if s.startswith("--")})
    close = difflib.get_close_matches(words[0].split("=")[0], flags, n=1)
    fail(f"unknown {'flag' if words[0].startswith('-') else 'argument'} {words[0]!r} for "
         f"{command}{f' (did you mean {close[0]}?)' if close else ''}; its flags: "
         + ", ".join(flags))


def parse(argv: list[str]) -> argparse.Namespace:
    top, commands = parsers()
    if argv and argv[0] in ("-h", "--help", "--version"):
        args = top.parse_args(argv[:1])
        print(top_help(commands), end="")
        raise SystemExit(0)
    if argv and not argv[0].startswith("-") and argv[0] not in COMMANDS:
        close = difflib.get_close_matches(argv[0], COMMANDS, n=1)
        fail(f"unknown command {argv[0]!r}{f' (did you mean {close[0]}?)' if close else ''}; "
             f"commands: {', '.join(COMMANDS)}")
    if not argv or argv[0] not in COMMANDS:
        argv = ["serve", *argv]
    command: list[str] = []
    if argv[0] == "exec" and not {"-h", "--help"} & set(argv[:argv.index("--")]
                                                        if "--" in argv else argv):
        if "--" not in argv or argv.index("--") == len(argv) - 1:
            fail(f"exec needs a command after `--`: {commands['exec'].usage}")
        argv, command = argv[:argv.index("--")], argv[argv.index("--") + 1:]
    args, extra = top.parse_known_args(argv)
    if extra:
        unknown(extra, args.command, commands[args.command])
    args.argv = command
    return args


def main(argv: list[str] | None = None) -> int:
    args = parse(list(sys.argv[1:] if argv is None else argv))
    logging.basicConfig(level=getattr(args, "log_level", "warning").upper(), stream=sys.stderr,
                        format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    try:
        return run(args)
    except ConfigError as exc:
        print(f"{PROG}: {exc}", file=sys.stderr)
        return 2
    except BrokenPipeError:  # `... | head`: the reader has gone, which is no error of ours
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        return 0


def run(args: argparse.Namespace) -> int:
    if args.command in VERBS:
        from .verbs import run as verb

        return verb(args)
    host, bind_port = bind_address(args) if hasattr(args, "host") else ("", 0)
    if args.command == "health":
        from .serving import health

        return health(host, bind_port)

    def load() -> Settings:
        return config.load(args.config, project=args.project,
                           service_account=args.service_account, profile=args.profile)

    if args.command == "env-init":
        from .serving import client_address, env_lines

        if bind_port == 0:
            fail("env-init needs the port the emulator listens on, and --port 0 picks one only "
                 f"when serving; give that port, or run a command against an emulator on a "
                 f"free port with `{PROG} exec -- COMMAND`")
        load()
        print(env_lines(client_address(host, bind_port)))
        return 0
    if args.command == "doctor":
        from .doctor import run as doctor

        return doctor(load())
    from .serving import serve

    then = None
    if args.command == "exec":
        from .run_command import runner

        then = runner(args.argv)
    return serve(load, host, bind_port, args.log_level == "debug", args.loop,
                 link_local=args.link_local, then=then)
