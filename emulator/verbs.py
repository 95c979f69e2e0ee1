"""The CLI verbs that drive a running emulator through its control API: set, delete,
trigger, fault, log, reset. `--url` names the emulator (default: $GCE_METADATA_HOST, else
127.0.0.1:8080). Exit status 1 when the emulator refuses or does not answer."""

from __future__ import annotations

import argparse
import json
import os
import sys


def default_url() -> str:
    return os.environ.get("GCE_METADATA_HOST") or "127.0.0.1:8080"


def url_option(cmd: argparse.ArgumentParser) -> None:
    cmd.add_argument("--url", default=None, help="the emulator to drive (default "
                     f"$GCE_METADATA_HOST, else 127.0.0.1:8080; now {default_url()})")


def set_options(cmd: argparse.ArgumentParser) -> None:
    cmd.add_argument("path", metavar="PATH", help="below computeMetadata/v1/, e.g. "
                     "instance/attributes/role")
    cmd.add_argument("value", metavar="VALUE", help="served as text, or as JSON with --json")
    cmd.add_argument("--json", action="store_true", help="VALUE is JSON (a number, a list, a "
                     "directory)")
    url_option(cmd)


def delete_options(cmd: argparse.ArgumentParser) -> None:
    cmd.add_argument("path", metavar="PATH", help="below computeMetadata/v1/")
    url_option(cmd)


def trigger_options(cmd: argparse.ArgumentParser) -> None:
    cmd.add_argument("event", choices=("maintenance", "preemption"))
    cmd.add_argument("--after", default="0s", help="start after this delay (e.g. 5s)")
    cmd.add_argument("--at", help="start at this time (ISO 8601, e.g. 2026-11-23T09:30:00Z)")
    cmd.add_argument("--duration", help="maintenance: how long until maintenance-event is "
                     "NONE again (default 60s)")
    cmd.add_argument("--kind", choices=("migrate", "terminate"),
                     help="maintenance: MIGRATE_ON_HOST_MAINTENANCE (default) or "
                     "TERMINATE_ON_HOST_MAINTENANCE")
    url_option(cmd)


def fault_options(cmd: argparse.ArgumentParser) -> None:
    cmd.add_argument("kind", choices=("token", "identity", "tree", "list", "clear"),
                     help="what fails: token or identity requests, or the whole tree; list "
                     "and clear show and drop the faults")
    cmd.add_argument("--status", type=int, help="the status to answer (default 503; none with "
                     "--latency alone only slows down)")
    cmd.add_argument("--count", type=int, help="token, identity: this many requests "
                     "(default 1)")
    cmd.add_argument("--latency", default="0s", help="added before answering, e.g. 2s")
    cmd.add_argument("--account", help="only requests for this account (default any)")
    cmd.add_argument("--duration", help="tree: how long the outage lasts (default 60s)")
    url_option(cmd)


def log_options(cmd: argparse.ArgumentParser) -> None:
    cmd.add_argument("--follow", "-f", action="store_true", help="keep printing requests as "
                     "they are answered")
    cmd.add_argument("--limit", type=int, default=50, help="how many recent requests "
                     "(default 50)")
    cmd.add_argument("--json", action="store_true", help="one JSON object a line")
    url_option(cmd)


def reset_options(cmd: argparse.ArgumentParser) -> None:
    url_option(cmd)


VERBS = {
    "set": ("serve a value at PATH in a running emulator", set_options),
    "delete": ("remove the value at PATH in a running emulator", delete_options),
    "trigger": ("start a maintenance event or a preemption, now or later", trigger_options),
    "fault": ("make token or identity requests, or the whole tree, fail or slow down",
              fault_options),
    "log": ("print the requests a running emulator answered (--follow: live)", log_options),
    "reset": ("drop every override, fault, scheduled scenario and the request log",
              reset_options),
}


def line(entry: dict) -> str:
    out = (f"{entry['time'][11:23]} {entry['client'] or '-':15} {entry['method']:6} "
           f"{entry['path']} {entry['status']} {entry['latency_ms']:.1f}ms")
    for kind in ("token", "identity"):
        if kind in entry:
            t = entry[kind]
            asked = t.get("audience") or ",".join(t.get("scopes") or ())
            out += f"  {kind} {t['account']} {asked} {'cached' if t['cached'] else 'minted'}"
    if "refused" in entry:
        out += f"  refused: {entry['refused']}"
    return out


def show(answer: object) -> None:
    print(json.dumps(answer, indent=2))


def run(args: argparse.Namespace) -> int:
    from .remote import Remote, RemoteError  # urllib: only for the verbs

    remote = Remote(args.url)
    try:
        if args.command == "set":
            value = args.value
            if args.json:
                try:
                    value = json.loads(value)
                except ValueError as exc:
                    print(f"gce-metadata-emulator set: VALUE is not JSON: {exc}",
                          file=sys.stderr)
                    return 2
            show(remote.set(args.path, value))
        elif args.command == "delete":
            show(remote.delete(args.path))
        elif args.command == "trigger":
            show(remote.trigger(args.event, after=args.after, at=args.at,
                                duration=args.duration, kind=args.kind))
        elif args.command == "fault":
            if args.kind == "list":
                show(remote.faults())
            elif args.kind == "clear":
                remote.clear_faults()
                print("faults cleared")
            else:
                status = args.status if args.status is not None else (
                    None if args.latency not in ("0", "0s") else 503)
                show(remote.fault(args.kind, status, args.count, args.latency, args.account,
                                  args.duration))
        elif args.command == "log":
            for entry in remote.requests(args.limit):
                print(json.dumps(entry) if args.json else line(entry), flush=True)
            if args.follow:
                try:
                    for entry in remote.follow():
                        print(json.dumps(entry) if args.json else line(entry), flush=True)
                except KeyboardInterrupt:
                    return 0
        elif args.command == "reset":
            remote.reset()
            print("reset: no overrides, faults, scheduled scenarios or logged requests left")
    except RemoteError as exc:
        print(f"gce-metadata-emulator {args.command}: {exc}", file=sys.stderr)
        return 1
    return 0
