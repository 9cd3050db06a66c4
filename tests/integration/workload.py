"""A generated agent workload whose per-minute rollups are known without running Seatmeter.

Samples cover whole, aligned minutes, so the truth is a plain count per (product, minute); the
spreading of unaligned intervals is covered by the unit tests.
"""

from __future__ import annotations

import random
from collections import defaultdict
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta, timezone
from decimal import Decimal

import orjson

from tests.integration.harness import Pipeline

ROLLUPS_SQL = """
SELECT product, toString(minute) AS minute, active_users, active_devices,
       toString(active_seconds) AS active_seconds, event_count
FROM product_usage_per_minute"""
"""The warehouse's side of ``Truth.rows``."""

PRODUCTS = ("EXCEL.EXE", "WINWORD.EXE", "Photoshop.exe", "idea64.exe", "acad.exe", "code")
ZONES = (UTC, timezone(timedelta(hours=2)), timezone(timedelta(hours=-7)))


@dataclass
class Truth:
    users: dict[tuple[str, datetime], set[str]] = field(default_factory=lambda: defaultdict(set))
    devices: dict[tuple[str, datetime], set[str]] = field(default_factory=lambda: defaultdict(set))
    active: dict[tuple[str, datetime], Decimal] = field(default_factory=lambda: defaultdict(Decimal))
    events: dict[tuple[str, datetime], int] = field(default_factory=lambda: defaultdict(int))

    def rows(self) -> dict[tuple[str, str], tuple[int, int, Decimal, int]]:
        return {
            (product, minute.strftime("%Y-%m-%d %H:%M:%S")): (
                len(self.users[(product, minute)]),
                len(self.devices[(product, minute)]),
                self.active[(product, minute)],
                self.events[(product, minute)],
            )
            for product, minute in self.events
        }


@dataclass
class Workload:
    messages: list[tuple[bytes, bytes]]
    invalid: int
    late: int
    truth: Truth


def build_workload(
    seed: int, devices: int, minutes: int, invalid_every: int = 97, late_every: int = 89, resend_every: int = 23
) -> Workload:
    """Recent minutes (within the allowed lateness), a broken message every ``invalid_every``
    messages, an event beyond the allowed lateness every ``late_every``, and every
    ``resend_every`` messages a device re-sends an earlier part of its buffer (same event ids,
    packed differently), which must count once."""
    rng = random.Random(seed)
    now = datetime.now(UTC).replace(second=0, microsecond=0)
    start = now - timedelta(minutes=minutes + 60)
    truth = Truth()
    messages: list[tuple[bytes, bytes]] = []
    invalid = late = 0
    for number in range(devices):
        device = f"dev-{number:03d}"
        user = f"CORP\\person{rng.randrange(devices // 2 + 1)}"
        zone = ZONES[number % len(ZONES)]
        events = []
        for minute_index in range(minutes):
            for product in rng.sample(PRODUCTS, rng.randint(0, 2)):
                minute = start + timedelta(minutes=minute_index)
                active = Decimal(rng.randrange(0, 601)) / 10
                events.append(_event(rng, device, user, product, minute + timedelta(minutes=1), zone, active))
                key = (product_name(product), minute)
                truth.events[key] += 1
                truth.active[key] += active
                if active > 0:
                    truth.users[key].add(user.casefold())
                    truth.devices[key].add(device)
        for chunk_start in range(0, len(events), 7):
            chunk = events[chunk_start : chunk_start + 7]
            if rng.random() < 0.3:
                messages.extend((device.encode(), orjson.dumps(e)) for e in chunk)
            else:
                messages.append((device.encode(), orjson.dumps({"events": chunk})))
            if len(messages) % invalid_every == 0:
                messages.append((device.encode(), b'{"event_id": "broken", "kind": "sample"}'))
                invalid += 1
            if len(messages) % resend_every == 0 and chunk_start:
                resent = events[max(0, chunk_start - 3) : chunk_start + 2]
                messages.append((device.encode(), orjson.dumps({"events": resent})))
            if len(messages) % late_every == 0:
                old = now - timedelta(days=8)
                messages.append((device.encode(), orjson.dumps(_event(rng, device, user, "EXCEL.EXE", old, zone, 1))))
                late += 1
    return Workload(messages, invalid, late, truth)


def _event(rng, device, user, product, end, zone, active):  # type: ignore[no-untyped-def]
    return {
        "event_id": f"{device}-{rng.getrandbits(64):016x}",
        "event_time": end.astimezone(zone).isoformat(),
        "device_id": device,
        "user": user,
        "executable": {"path": f"/opt/{product}", "file_name": product},
        "kind": "sample",
        "active_seconds": float(active),
        "idle_seconds": float(60 - active),
        "interval_seconds": 60,
    }


def product_name(file_name: str) -> str:
    """What the pipeline counts ``/opt/<file_name>`` under: the catalog's name for it."""
    from schemas.usage import ExecutableRef, UsageEvent, UsageKind, UsageSource
    from streams.pipeline.batch import default_matcher
    from streams.pipeline.name.product import name_product

    event = UsageEvent(
        event_id="truth",
        source=UsageSource.AGENT,
        source_instance="truth",
        event_time=datetime.now(UTC),
        user="truth",
        kind=UsageKind.SAMPLE,
        executable=ExecutableRef(path=f"/opt/{file_name}", file_name=file_name),
    )
    name = name_product(event, default_matcher())
    assert name is not None, f"{file_name} is classed as background"
    return name.product


def warehouse_rollups(pipeline: Pipeline) -> dict[tuple[str, str], tuple[int, int, Decimal, int]]:
    """Per (product, minute) what the warehouse counted, in the shape of ``Truth.rows``."""
    return {
        (row["product"], row["minute"]): (
            int(row["active_users"]),
            int(row["active_devices"]),
            Decimal(row["active_seconds"]),
            int(row["event_count"]),
        )
        for row in pipeline.query(ROLLUPS_SQL)
    }
