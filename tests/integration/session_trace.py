"""A generated agent trace whose sessions are known without running Seatmeter.

The truth is computed here by a plain sweep over each (device, attributed user, product)'s
observations, written independently of ``streams.pipeline.sessionize.sessions``. A session's active time
follows the per-minute rule: each sample's active time is split over the clock minutes it
touches by overlap, and per minute the sum is capped at the span its samples covered there. The trace has the cases
the sessions must get right: pauses under and over the 30-minute gap, heartbeats exactly on and
just past the gap boundary, two instances of one product at once, remote desktop sessions
attributed to the person who connected, and a laptop that was offline for three days and sends
its whole buffer at the end.
"""

from __future__ import annotations

import random
from collections import defaultdict
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from decimal import Decimal

import orjson

from streams.pipeline.admit.pseudonymize import PseudonymKey, pseudonymize
from tests.integration.workload import product_name

GAP = timedelta(minutes=30)
MIN_ACTIVE = Decimal(60)
EXECUTABLES = ("EXCEL.EXE", "WINWORD.EXE", "acad.exe")
KEY = PseudonymKey("k1", b"integration-test-key")
STEPS = (
    (0.80, lambda rng: timedelta(minutes=1)),
    (0.08, lambda rng: timedelta(minutes=rng.randint(2, 20))),
    (0.03, lambda rng: timedelta(minutes=31)),  # a 30-minute gap exactly: the session goes on
    (0.03, lambda rng: timedelta(minutes=31, seconds=1)),  # one second more: a new session
    (0.03, lambda rng: timedelta(minutes=rng.randint(32, 90))),
    (0.03, lambda rng: timedelta(hours=rng.randint(3, 30))),
)


@dataclass(frozen=True)
class TraceEvent:
    device: str
    user: str
    product: str
    end: datetime
    active: Decimal
    body: dict[str, object]


@dataclass
class Trace:
    events: list[TraceEvent]

    def messages(self, order: list[int] | None = None) -> list[tuple[bytes, bytes]]:
        """One message per event, keyed by device, in time order or in ``order``."""
        chosen = [self.events[i] for i in order] if order is not None else self.time_sorted()
        return [(e.device.encode(), orjson.dumps(e.body)) for e in chosen]

    def time_sorted(self) -> list[TraceEvent]:
        return sorted(self.events, key=lambda e: (e.end, e.body["event_id"]))

    def sessions(self) -> list[tuple[object, ...]]:
        """(device, user_key, product, start, end, running, active, idle, events), sorted."""
        by_key: dict[tuple[str, str, str], list[TraceEvent]] = defaultdict(list)
        for event in self.events:
            by_key[(event.device, event.user, event.product)].append(event)
        rows = []
        for (device, user, product), events in by_key.items():
            spans = sorted((e.end - timedelta(minutes=1), e.end, e.active) for e in events)
            current: list[object] | None = None
            for start, end, active in spans:
                if current is not None and start - current[1] <= GAP:  # type: ignore[operator]
                    current[1] = max(current[1], end)  # type: ignore[call-overload]
                    current[2].append((end, active))  # type: ignore[attr-defined]
                    current[3] += 1  # type: ignore[operator]
                    continue
                if current is not None:
                    rows.append(_row(device, user, product, current))
                current = [start, end, [(end, active)], 1]
            rows.append(_row(device, user, product, current))  # type: ignore[arg-type]
        return sorted(rows)

    def daily(self) -> list[tuple[object, ...]]:
        """(day, user_key, product, sessions, sessions_used, active, running, devices), sorted."""
        days: dict[tuple[str, str, str], list[tuple[object, ...]]] = defaultdict(list)
        for row in self.sessions():
            days[(str(row[3])[:10], str(row[1]), str(row[2]))].append(row)
        return sorted(
            (
                day,
                user,
                product,
                len(rows),
                sum(1 for r in rows if r[6] >= MIN_ACTIVE),  # type: ignore[operator]
                sum((r[6] for r in rows), Decimal(0)),  # type: ignore[misc]
                sum((r[5] for r in rows), Decimal(0)),  # type: ignore[misc]
                len({r[0] for r in rows}),
            )
            for (day, user, product), rows in days.items()
        )


def _row(device: str, user: str, product: str, s: list[object]) -> tuple[object, ...]:
    start, end, samples, events = s
    running = Decimal((end - start).total_seconds())  # type: ignore[operator]
    capped = _clock_capped(samples)  # type: ignore[arg-type]
    return (device, pseudonymize(user, KEY), product, _text(start), _text(end), running, capped, running - capped,
            events)  # fmt: skip


def _clock_capped(samples: list[tuple[datetime, Decimal]]) -> Decimal:
    """Active seconds of one session's one-minute samples, capped at the clock per minute.

    A sample ``[end - 60 s, end)`` touches one or two clock minutes; the first gets the active
    ms times its overlap / 60 s, rounded down, the second the rest. A minute's total counts up
    to the span (earliest to latest covered instant) of the samples with a share in it.
    """
    minutes: dict[datetime, list[int]] = {}
    for end, active in samples:
        active_ms, start = int(active * 1000), end - timedelta(minutes=1)
        first = start.replace(second=0, microsecond=0)
        head_ms = int((first + timedelta(minutes=1) - start).total_seconds() * 1000)
        head = active_ms * head_ms // 60_000
        start_ms = 60_000 - head_ms
        pieces = ((first, head, start_ms, 60_000), (first + timedelta(minutes=1), active_ms - head, 0, start_ms))
        for minute, share, low, high in pieces:
            if share <= 0:
                continue
            held = minutes.setdefault(minute, [0, low, high])
            held[0], held[1], held[2] = held[0] + share, min(held[1], low), max(held[2], high)
    return sum((Decimal(min(ms, high - low)) for ms, low, high in minutes.values()), Decimal(0)) / 1000


def _text(moment: object) -> str:
    return moment.strftime("%Y-%m-%d %H:%M:%S.000")  # type: ignore[attr-defined]


def build_trace(seed: int, devices: int = 12, hours: int = 80, end: datetime | None = None) -> Trace:
    """Events over the ``hours`` up to ``end`` (now unless given; well within the 7-day lateness
    bound). A fixed ``end`` makes the trace the same at every time of day."""
    rng = random.Random(seed)
    now = (end or datetime.now(UTC)).replace(second=0, microsecond=0)
    begin = now - timedelta(hours=hours)
    events: list[TraceEvent] = []
    for number in range(devices):
        device, user = f"ws-{number:02d}", f"CORP\\person{number}"
        for exe in rng.sample(EXECUTABLES, 2):
            _walk(rng, events, device, user, None, exe, begin, now)
    for person in range(3):
        _walk(rng, events, "ts-01", "TS\\rdp-host", f"CORP\\remote{person}", "WINWORD.EXE", begin, now)
    _walk(rng, events, "laptop-offline", "CORP\\traveller", None, "EXCEL.EXE", now - timedelta(days=3), now)
    return Trace(events)


def _walk(rng, events, device, user, remote, exe, begin, end) -> None:  # type: ignore[no-untyped-def]
    moment = begin + timedelta(minutes=rng.randint(1, 600))
    while moment < end - timedelta(minutes=5):
        instances = 2 if rng.random() < 0.05 else 1
        for _ in range(instances):
            active = Decimal(rng.randrange(0, 601)) / 10
            body: dict[str, object] = {
                "event_id": f"{device}-{rng.getrandbits(64):016x}",
                "schema_version": 2,
                "event_time": moment.isoformat(),
                "device_id": device,
                "user": user,
                "executable": {"path": f"/opt/{exe}", "file_name": exe},
                "kind": "sample",
                "active_seconds": float(active),
                "idle_seconds": float(60 - active),
                "interval_seconds": 60,
                "session_type": "rdp" if remote else "console",
            }
            if remote:
                body["originating_user"] = remote
            events.append(TraceEvent(device, remote or user, product_name(exe), moment, active, body))
        moment += _step(rng)


def _step(rng: random.Random) -> timedelta:
    roll = rng.random()
    for share, step in STEPS:
        if roll < share:
            return step(rng)
        roll -= share
    return timedelta(minutes=1)
