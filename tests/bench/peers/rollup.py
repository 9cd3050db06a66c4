"""What the peers share with seatmeter, in plain Python: which events count, the minute each counts
in, the per-minute per-product rollup, the table it goes to and the totals a run is held to.

It needs only the standard library and clickhouse-connect, so it loads the same under the
project's packages and under the Quix peer's own (``tests.bench.three_way`` says why they differ).
"""

from __future__ import annotations

import argparse
import json
import os
from collections.abc import Iterable
from dataclasses import asdict, dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import clickhouse_connect
from clickhouse_connect.driver.client import Client

MINUTE_MS = 60_000
KINDS = frozenset({"start", "sample", "stop"})
TABLE = "product_usage_1m"
COLUMNS = ("minute", "product", "users", "active_ms", "event_count")
CREATE_TABLE = f"""
CREATE TABLE IF NOT EXISTS {TABLE}
(
    minute      DateTime('UTC'),
    product     LowCardinality(String),
    users       Array(String),
    active_ms   UInt64,
    event_count UInt32
)
ENGINE = MergeTree
ORDER BY (product, minute)
"""
TOTALS_SQL = "SELECT sum(event_count), sum(active_ms) FROM product_usage_1m"
USER_MINUTES_SQL = (
    "SELECT sum(users) FROM (SELECT uniqExactArray(users) AS users FROM product_usage_1m GROUP BY minute, product)"
)
BOOTSTRAP = os.environ.get("SEATMETER_KAFKA__BOOTSTRAP_SERVERS", "127.0.0.1:9092")

Usage = tuple[int, str, str, int]
"""One valid event's part in the rollup: (minute start in epoch ms, product, user, active ms)."""


class TotalsMismatchError(AssertionError):
    """A run counted other numbers than the traffic holds: its figure must not be reported."""


def counted_minute(end_ms: int, has_interval: bool) -> int:
    """Seatmeter's rule for the minute an event counts in: the one its interval ends in (a sample
    ending at 10:01:00 sharp covers 10:00); an event without an interval counts where it is."""
    moment = end_ms - 1 if has_interval else end_ms
    return moment - moment % MINUTE_MS


def events_of(document: Any) -> list[Any]:
    """An envelope's events, or the message itself when it is one event (agents send both)."""
    if not isinstance(document, dict):
        return []
    events = document.get("events")
    return events if isinstance(events, list) else [document]


def usage_of(event: Any) -> Usage | None:
    """A valid event's usage, ``None`` for one that fails the peers' minimal checks (types of the
    fields used, a known kind, ``0 <= active <= interval``, a time with its zone).

    The product is the executable's file name lower-cased: seatmeter names products by its
    catalog instead, work only it does. Active time goes to the minute the event counts in,
    where seatmeter spreads it over the minutes its interval covers; for the minute-aligned
    60 s samples agents send, that is the same minute."""
    if not isinstance(event, dict):
        return None
    executable, user, moment = event.get("executable"), event.get("user"), event.get("event_time")
    if not (isinstance(executable, dict) and isinstance(user, str) and isinstance(moment, str)):
        return None
    file_name = executable.get("file_name")
    if not (isinstance(file_name, str) and file_name and isinstance(event.get("event_id"), str)):
        return None
    active, interval = event.get("active_seconds", 0.0), event.get("interval_seconds", 0)
    if event.get("kind") not in KINDS or not (_is_number(active) and _is_number(interval)):
        return None
    if not 0 <= active <= interval:
        return None
    try:
        end = datetime.fromisoformat(moment)
    except ValueError:
        return None
    if end.tzinfo is None:
        return None
    minute = counted_minute(round(end.timestamp() * 1000), interval > 0)
    return minute, file_name.casefold(), user, round(active * 1000)


def _is_number(value: Any) -> bool:
    return type(value) is float or type(value) is int


class _Tally:
    __slots__ = ("active_ms", "events", "users")

    def __init__(self) -> None:
        self.active_ms = 0
        self.events = 0
        self.users: set[str] = set()


class MinuteRollup:
    """Per (minute, product): events counted, active ms summed and the users with active time
    there (seatmeter's rule for who counts in a minute); what one INSERT writes."""

    def __init__(self) -> None:
        self._tallies: dict[tuple[int, str], _Tally] = {}

    def __len__(self) -> int:
        return len(self._tallies)

    def add(self, usage: Usage) -> None:
        minute, product, user, active_ms = usage
        tally = self._tallies.get((minute, product))
        if tally is None:
            tally = self._tallies[(minute, product)] = _Tally()
        tally.events += 1
        if active_ms > 0:
            tally.active_ms += active_ms
            tally.users.add(user)

    def columns(self) -> list[list[Any]]:
        """The rollup column by column, in the order of ``COLUMNS``."""
        keys, tallies = list(self._tallies), list(self._tallies.values())
        return [
            [datetime.fromtimestamp(minute // 1000, UTC) for minute, _ in keys],
            [product for _, product in keys],
            [list(t.users) for t in tallies],
            [t.active_ms for t in tallies],
            [t.events for t in tallies],
        ]


@dataclass(frozen=True, slots=True)
class Totals:
    """What a run is held to: events counted, active time (in ms, so sums are exact) and
    user-minutes (the distinct users of every (minute, product), summed: checks the distinct
    counts, not only the sums)."""

    events: int
    active_ms: int
    user_minutes: int

    def differences(self, expected: Totals) -> list[str]:
        return [
            f"{name} {getattr(self, name):,} (expected {getattr(expected, name):,})"
            for name in ("events", "active_ms", "user_minutes")
            if getattr(self, name) != getattr(expected, name)
        ]


def ledger(messages: Iterable[tuple[bytes, bytes]]) -> Totals:
    """What the simulated traffic holds, worked out from the messages alone (not by any of the
    implementations' code): every simulated event is valid, so all of them count."""
    events = active_ms = 0
    user_minutes: set[tuple[int, str, str]] = set()
    for _, value in messages:
        for event in events_of(json.loads(value)):
            events += 1
            share = round(event["active_seconds"] * 1000)
            active_ms += share
            if share > 0:
                end_ms = round(datetime.fromisoformat(event["event_time"]).timestamp() * 1000)
                minute = counted_minute(end_ms, event["interval_seconds"] > 0)
                user_minutes.add((minute, event["executable"]["file_name"].casefold(), event["user"]))
    return Totals(events, active_ms, len(user_minutes))


def check_totals(implementation: str, got: Totals, expected: Totals) -> None:
    """Fail the run (raise) when its totals are not the ledger's."""
    differences = got.differences(expected)
    if differences:
        raise TotalsMismatchError(f"{implementation}: totals differ from the ledger: {'; '.join(differences)}")


@dataclass(frozen=True, slots=True)
class PeerReport:
    """The one JSON line a peer prints: what it consumed and wrote, the seconds from its first
    message to its last insert, and the totals it read back from its warehouse afterwards."""

    implementation: str
    version: str
    messages: int
    events: int
    rejected: int
    inserts: int
    seconds: float
    totals: Totals

    def line(self) -> str:
        return json.dumps(asdict(self))

    @classmethod
    def from_line(cls, line: str) -> PeerReport:
        fields = json.loads(line)
        return cls(**{**fields, "totals": Totals(**fields["totals"])})


def open_warehouse(folder: Path) -> Client:
    """An embedded warehouse in ``folder`` holding the peers' table, reached the way seatmeter
    reaches its own (clickhouse-connect, ``chdb://PATH``); one per process, as chDB allows."""
    folder.mkdir(parents=True, exist_ok=True)
    client = clickhouse_connect.get_client(dsn=f"chdb://{folder.resolve()}")
    client.command(CREATE_TABLE)
    return client


def write_rollup(client: Client, rollup: MinuteRollup) -> None:
    """One column-oriented INSERT of a batch's rollup rows."""
    client.insert(TABLE, rollup.columns(), column_names=COLUMNS, column_oriented=True)


def read_totals(client: Client) -> Totals:
    events, active_ms = client.query(TOTALS_SQL).result_rows[0]
    user_minutes = client.query(USER_MINUTES_SQL).result_rows[0][0]
    return Totals(int(events), int(active_ms), int(user_minutes))


def peer_arguments(description: str) -> argparse.Namespace:
    """The command line every peer takes: which topic and group, its warehouse, when to stop."""
    parser = argparse.ArgumentParser(description=description)
    parser.add_argument("--topic", required=True)
    parser.add_argument("--group", required=True, help="A fresh consumer group: the topic is read from its start.")
    parser.add_argument("--warehouse", type=Path, required=True, help="A fresh folder for the embedded warehouse.")
    parser.add_argument("--expect-messages", type=int, required=True, help="Stop once this many are consumed.")
    parser.add_argument("--bootstrap", default=BOOTSTRAP)
    parser.add_argument("--idle-timeout", type=float, default=60.0, help="Fail after this long without a message.")
    return parser.parse_args()
