"""The producer's ledger of a chaos scenario, and the verifier that holds the warehouse against it.

The ledger is what was sent: the good traffic with its known per-minute truth (from the workload
generator), the broken and late messages the workload mixes in, and the poison injected on top.
The verifier reads the warehouse and lists every difference; the scenario passes when the list is
empty. Sessions have no closed-form truth, so the ledger's own messages replayed offline, with no
fault, are their oracle (offline replay is checked against its own truths elsewhere).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from decimal import Decimal
from pathlib import Path

import orjson

from tests.integration.harness import Pipeline
from tests.integration.workload import Truth, Workload, warehouse_rollups

RollupRow = tuple[int, int, Decimal, int]
"""Per (product, minute): active users, active devices, active seconds, events."""

SESSIONS = """
SELECT device_id, user_key, product, toString(started_at) AS started, toString(ended_at) AS ended,
       toString(active_seconds) AS active, event_count
FROM usage_sessions ORDER BY device_id, user_key, product, started_at"""
DEAD_LETTERS = "SELECT stage, reason FROM dead_letters FINAL"


@dataclass
class Ledger:
    workload: Workload
    poison: list[tuple[str, bytes, bytes]] = field(default_factory=list)
    """(what it is, key, value) of each poison message sent."""
    injected: list[str] = field(default_factory=list)
    """The faults, in words, as the scenario injected them."""
    deliveries: int = 1
    """How many times the workload was sent (each copy of a broken message is a dead letter)."""

    @property
    def truth(self) -> Truth:
        return self.workload.truth

    @property
    def messages(self) -> list[tuple[bytes, bytes]]:
        """The workload as sent, its broken and late messages included (the poison is not)."""
        return self.workload.messages

    def add_poison(self, name: str, key: bytes, value: bytes) -> tuple[bytes, bytes]:
        self.poison.append((name, key, value))
        return key, value

    def note(self, fault: str) -> None:
        self.injected.append(fault)

    def write_replay_file(self, path: Path) -> Path:
        """The workload as an agent export, one message per line, for the offline oracle."""
        path.write_bytes(b"".join(orjson.dumps(orjson.loads(value)) + b"\n" for _, value in self.messages))
        return path


@dataclass
class Findings:
    """What the verifier compared and what differed; ``mismatches`` empty means exact."""

    scenario: str
    injected: list[str]
    compared: dict[str, int]
    mismatches: list[str]


def compare_rollups(expected: dict[tuple[str, str], RollupRow], actual: dict[tuple[str, str], RollupRow]) -> list[str]:
    """Every (product, minute) missing, extra or different, in words, at most 10 of each kind."""
    missing = sorted(expected.keys() - actual.keys())
    extra = sorted(actual.keys() - expected.keys())
    wrong = sorted(k for k in expected.keys() & actual.keys() if expected[k] != actual[k])
    more = len(missing[10:]) + len(extra[10:]) + len(wrong[10:])
    return (
        [f"missing rollup {k}: want {expected[k]}" for k in missing[:10]]
        + [f"extra rollup {k}: {actual[k]}" for k in extra[:10]]
        + [f"rollup {k}: want {expected[k]}, got {actual[k]}" for k in wrong[:10]]
        + ([f"... and {more} more"] if more else [])
    )


def compare_dead_letters(expected_count: int, letters: list[tuple[str, str]]) -> list[str]:
    """As many dead letters as broken and poison messages were sent, each with a stage and a reason."""
    found = [] if len(letters) == expected_count else [f"dead letters: want {expected_count}, got {len(letters)}"]
    unexplained = [letter for letter in letters if not letter[0] or not letter[1]]
    return found + [f"a dead letter without a stage or reason: {letter}" for letter in unexplained[:5]]


def compare_sessions(expected: list[tuple[str, ...]], actual: list[tuple[str, ...]]) -> list[str]:
    if expected == actual:
        return []
    want, got = set(expected), set(actual)
    return [f"sessions: {len(expected)} expected, {len(actual)} found"] + [
        f"session {s} {'missing' if s in want else 'extra'}" for s in sorted(want ^ got)[:10]
    ]


def warehouse_sessions(pipeline: Pipeline) -> list[tuple[str, ...]]:
    return [tuple(str(value) for value in row.values()) for row in pipeline.query(SESSIONS)]


def verify(scenario: str, ledger: Ledger, streamed: Pipeline, oracle: Pipeline | None = None) -> Findings:
    """The warehouse of ``streamed`` against the ledger (and the oracle's sessions, when given)."""
    expected = ledger.truth.rows()
    letters = [(r["stage"], r["reason"]) for r in streamed.query(DEAD_LETTERS)]
    mismatches = compare_rollups(expected, warehouse_rollups(streamed))
    mismatches += compare_dead_letters(ledger.workload.invalid * ledger.deliveries + len(ledger.poison), letters)
    compared = {
        "product-minutes": len(expected),
        "events": sum(row[3] for row in expected.values()),
        "dead letters": len(letters),
    }
    if oracle is not None:
        want = warehouse_sessions(oracle)
        mismatches += compare_sessions(want, warehouse_sessions(streamed))
        compared["sessions"] = len(want)
    return Findings(scenario, ledger.injected, compared, mismatches)
