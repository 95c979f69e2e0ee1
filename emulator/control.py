"""What a test drives besides values: faults (the next N token or identity answers fail or
slow down; the whole tree answers 503 for a while) and scenarios (a host maintenance event, a
preemption), now, after a delay or at a wall-clock time.

Scenarios are value changes through the store, so `wait_for_change` watchers wake as for any
change. Faults are consulted by the handler: on the token path only when one is set.
"""

from __future__ import annotations

import asyncio
import itertools
import re
import time
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from .store import Store

FAULT_KINDS = ("token", "identity", "tree")
SCENARIOS = ("maintenance", "preemption")
MAINTENANCE_KINDS = {"migrate": "MIGRATE_ON_HOST_MAINTENANCE",
                     "terminate": "TERMINATE_ON_HOST_MAINTENANCE"}
DURATION = re.compile(r"^([0-9]+(?:\.[0-9]+)?)(ms|s|m|h)?$")
UNIT = {"ms": 0.001, "s": 1, "m": 60, "h": 3600, None: 1}
LONGEST = 7 * 24 * 3600


class ControlError(ValueError):
    """A request the control API cannot carry out; the message says what to send."""


def duration(value: Any, name: str) -> float:
    """Seconds from 5, 2.5, "500ms", "5s", "2m" or "1h"."""
    if isinstance(value, bool):
        raise ControlError(f"{name}: expected a duration like 5s, 500ms or 2m, got {value!r}")
    if isinstance(value, int | float):
        seconds = float(value)
    else:
        match = DURATION.match(str(value).strip())
        if not match:
            raise ControlError(f"{name}: expected a duration like 5s, 500ms or 2m, got "
                               f"{str(value)[:40]!r}")
        seconds = float(match.group(1)) * UNIT[match.group(2)]
    if not 0 <= seconds <= LONGEST:
        raise ControlError(f"{name}: {seconds:g}s is out of range (0 to 7 days)")
    return seconds


def wall_time(value: Any) -> float:
    """Epoch seconds from an ISO 8601 time (a time without a zone is local time)."""
    try:
        return datetime.fromisoformat(str(value).replace("Z", "+00:00")).timestamp()
    except ValueError:
        raise ControlError(f"at: expected an ISO 8601 time like 2026-11-23T09:30:00Z, got "
                           f"{str(value)[:40]!r}") from None


def delay_of(body: dict) -> float:
    """Seconds from now until a scenario or fault starts: `after` or `at`, else 0."""
    if "after" in body and "at" in body:
        raise ControlError("give either after (a delay) or at (a time), not both")
    if "at" in body:
        return max(0.0, wall_time(body["at"]) - time.time())
    return duration(body.get("after", 0), "after")


@dataclass
class Fault:
    id: int
    kind: str
    status: int | None
    count: int | None  # None: until cleared (or `until`)
    latency: float
    account: str | None
    until: float | None  # monotonic end of a `tree` outage
    served: int = 0

    def as_json(self) -> dict[str, Any]:
        out: dict[str, Any] = {"id": self.id, "kind": self.kind, "status": self.status,
                               "remaining": self.count, "latency_s": self.latency,
                               "account": self.account, "served": self.served}
        if self.until is not None:
            out["ends_in_s"] = round(max(0.0, self.until - time.monotonic()), 3)
        return out


@dataclass
class Scheduled:
    id: int
    scenario: str
    starts: float  # epoch
    detail: dict
    handles: list[asyncio.TimerHandle] = field(default_factory=list)

    def as_json(self) -> dict[str, Any]:
        return {"id": self.id, "scenario": self.scenario,
                "starts_in_s": round(max(0.0, self.starts - time.time()), 3), **self.detail}


class Control:
    """Faults and scheduled scenarios of one emulator."""

    def __init__(self, store: Store) -> None:
        self.store = store
        self.faults: list[Fault] = []
        self.scheduled: dict[int, Scheduled] = {}
        self.ids = itertools.count(1)
        self.active = False  # any fault set: the only thing the hot path looks at

    # -- faults

    def add_fault(self, body: dict) -> Fault:
        kind = body.get("kind")
        if kind not in FAULT_KINDS:
            raise ControlError(f"kind: expected one of {', '.join(FAULT_KINDS)}, got {kind!r}")
        status = body.get("status", 503 if kind == "tree" else None)
        if status is not None and (isinstance(status, bool) or not isinstance(status, int)
                                   or not 400 <= status <= 599):
            raise ControlError(f"status: expected an HTTP error status (400 to 599), got "
                               f"{status!r}")
        latency = duration(body.get("latency", 0), "latency")
        if status is None and not latency:
            raise ControlError("give a status to answer (e.g. 503), a latency to add, or both")
        count = body.get("count", None if kind == "tree" else 1)
        if count is not None and (isinstance(count, bool) or not isinstance(count, int)
                                  or count < 1):
            raise ControlError(f"count: expected a whole number of requests from 1, got "
                               f"{count!r}")
        until = None
        if kind == "tree":
            until = time.monotonic() + duration(body.get("duration", "60s"), "duration")
        account = body.get("account")
        if account is not None and not isinstance(account, str):
            raise ControlError("account: expected an email (or leave it out for any)")
        fault = Fault(next(self.ids), kind, status, count, latency, account, until)
        self.faults.append(fault)
        self.active = True
        return fault

    def take(self, kind: str, account: str | None = None) -> Fault | None:
        """The fault for this request, counted; None when none applies."""
        self.expire()
        for fault in self.faults:
            if fault.kind != kind or (fault.account and account and
                                      fault.account != account):
                continue
            fault.served += 1
            if fault.count is not None:
                fault.count -= 1
                if fault.count == 0:
                    self.drop(fault)
            return fault
        return None

    def expire(self) -> None:
        """Drop the outages whose time is up."""
        now = time.monotonic()
        for fault in [f for f in self.faults if f.until is not None and now >= f.until]:
            self.drop(fault)

    def drop(self, fault: Fault) -> None:
        if fault in self.faults:
            self.faults.remove(fault)
        self.active = bool(self.faults)

    def clear_faults(self, fault_id: int | None = None) -> bool:
        if fault_id is None:
            self.faults.clear()
            self.active = False
            return True
        for fault in self.faults:
            if fault.id == fault_id:
                self.drop(fault)
                return True
        return False

    # -- scenarios

    def schedule(self, scenario: str, body: dict) -> Scheduled:
        if scenario not in SCENARIOS:
            raise ControlError(f"no scenario {scenario!r}; scenarios: {', '.join(SCENARIOS)}")
        delay = delay_of(body)
        if scenario == "maintenance":
            kind = body.get("kind", "migrate")
            if kind not in MAINTENANCE_KINDS:
                raise ControlError(f"kind: expected migrate or terminate, got {kind!r}")
            lasts = duration(body.get("duration", "60s"), "duration")
            detail = {"event": MAINTENANCE_KINDS[kind], "duration_s": lasts}
            steps = [(delay, {"instance/maintenance-event": MAINTENANCE_KINDS[kind]}),
                     (delay + lasts, {"instance/maintenance-event": "NONE"})]
        else:
            detail = {}
            steps = [(delay, {"instance/preempted": "TRUE",
                              "instance/maintenance-event": "TERMINATE_ON_HOST_MAINTENANCE"})]
        item = Scheduled(next(self.ids), scenario, time.time() + delay, detail)
        loop = asyncio.get_running_loop()
        for i, (at, changes) in enumerate(steps):
            last = i == len(steps) - 1
            item.handles.append(loop.call_later(at, self._apply, item.id, changes, last))
        self.scheduled[item.id] = item
        return item

    def _apply(self, item_id: int, changes: dict[str, str], last: bool) -> None:
        for path, value in changes.items():
            self.store.set(path, value)
        if last:
            self.scheduled.pop(item_id, None)

    def cancel(self) -> None:
        for item in self.scheduled.values():
            for handle in item.handles:
                handle.cancel()
        self.scheduled.clear()

    def reset(self) -> None:
        self.clear_faults()
        self.cancel()
