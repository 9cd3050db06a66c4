"""Process histories of one host and the osquery result logs they give, in snapshot and differential mode.

A history is a list of polls (``INTERVAL`` apart, the host awake or asleep at each), the processes that ran
(from one poll to another, in poll indexes) and the polls at which osquery's differential state restarted.
The renderers write the result lines osqueryd would log for the pack's process query and heartbeat:
snapshot lines (one ``snapshot`` array, or one event line per row), differential lines (one event line per
``added``/``removed`` row, or one ``diffResults`` batch line per run), and the heartbeat's snapshot lines.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from hypothesis import strategies as st

INTERVAL = 900
START = 1_795_766_400  # 2026-11-27 00:00 UTC
QUERY = "pack_seatmeter-usage_processes_linux"
HEARTBEAT = "pack_seatmeter-usage_heartbeat"
PATHS = ("/opt/acme/cad/acmecad", "/opt/acme/lab/labtool", "/opt/tools/plotter")
USERS = ("chen", "dana")


@dataclass(frozen=True)
class Process:
    """One process: running at the polls ``first`` up to, not including, ``stop``."""

    pid: int
    user: str
    path: str
    first: int
    stop: int

    def running(self, poll: int) -> bool:
        return self.first <= poll < self.stop

    def row(self) -> dict[str, str]:
        uid = 1000 + USERS.index(self.user)
        return {"pid": str(self.pid), "name": self.path.rsplit("/", 1)[-1][:15], "path": self.path,
                "start_time": str(poll_time(self.first) - 7), "uid": str(uid), "username": self.user,
                "platform": "linux"}  # fmt: skip


@dataclass(frozen=True)
class History:
    polls: int
    processes: tuple[Process, ...]
    asleep: frozenset[int] = frozenset()
    resets: frozenset[int] = frozenset()
    heartbeat_phase: int | None = 300  # seconds after each poll; None: no heartbeat query
    host: str = "lnx-0001"

    def awake(self, poll: int) -> bool:
        return poll not in self.asleep


def poll_time(poll: int) -> int:
    return START + poll * INTERVAL


def header(history: History, name: str, unix_time: int, counter: int = 0) -> dict[str, Any]:
    calendar = datetime.fromtimestamp(unix_time, tz=UTC).strftime("%a %b %d %H:%M:%S %Y UTC")
    return {"name": name, "hostIdentifier": history.host, "calendarTime": calendar, "unixTime": unix_time,
            "epoch": 0, "counter": counter, "numerics": False, "decorations": {"host_uuid": "h-1"}}  # fmt: skip


def heartbeats(history: History, poll: int) -> list[dict[str, Any]]:
    if history.heartbeat_phase is None:
        return []
    unix_time = poll_time(poll) + history.heartbeat_phase
    instance = f"instance-{sum(1 for reset in history.resets if reset <= poll)}"  # a lost database: a new one
    row = {"pid": "811", "instance_id": instance, "seatmeter_heartbeat": "1"}
    return [{**header(history, HEARTBEAT, unix_time), "snapshot": [row], "action": "snapshot"}]


def snapshot_log(history: History, one_line_per_row: bool = False) -> list[dict[str, Any]]:
    lines: list[dict[str, Any]] = []
    for poll in (p for p in range(history.polls) if history.awake(p)):
        rows = [p.row() for p in history.processes if p.running(poll)]
        head = header(history, QUERY, poll_time(poll))
        if one_line_per_row:
            lines.extend({**head, "columns": row, "action": "snapshot"} for row in rows)
        else:
            lines.append({**head, "snapshot": rows, "action": "snapshot"})
        lines.extend(heartbeats(history, poll))
    return lines


@dataclass
class _DifferentialState:
    """osqueryd's stored result of the query and its counter."""

    previous: set[Process] = field(default_factory=set)
    counter: int = -1


def differential_log(history: History, batch_format: bool = False, removed_first: bool = False) -> list[dict[str, Any]]:
    state = _DifferentialState()
    lines: list[dict[str, Any]] = []
    for poll in (p for p in range(history.polls) if history.awake(p)):
        if poll in history.resets:
            state = _DifferentialState()
        lines.extend(_differential_run(history, poll, state, batch_format, removed_first))
        lines.extend(heartbeats(history, poll))
    return lines


def _differential_run(
    history: History, poll: int, state: _DifferentialState, batch_format: bool, removed_first: bool
) -> list[dict[str, Any]]:
    now = {p for p in history.processes if p.running(poll)}
    added = sorted(now - state.previous, key=lambda p: p.pid)
    removed = sorted(state.previous - now, key=lambda p: p.pid)
    state.previous = now
    if not added and not removed and state.counter >= 0:
        return []
    state.counter += 1
    head = header(history, QUERY, poll_time(poll), state.counter)
    if batch_format:
        results = {"added": [p.row() for p in added], "removed": [p.row() for p in removed]}
        return [{**head, "diffResults": results}]
    events = [(p, "added") for p in added]
    events = [(p, "removed") for p in removed] + events if removed_first else events + [(p, "removed") for p in removed]
    return [{**head, "columns": p.row(), "action": action} for p, action in events]


@st.composite
def histories(draw: st.DrawFn, heartbeat: bool = True) -> History:
    """Processes starting and stopping at random polls; with a heartbeat, also some still running at the
    end, the host asleep for some polls, and restarts of osquery's differential state."""
    polls = draw(st.integers(min_value=4, max_value=60))
    processes = []
    last_stop = polls + 2 if heartbeat else polls - 1  # without a heartbeat, every run ends inside the log
    for pid in range(100, 100 + draw(st.integers(min_value=0, max_value=7))):
        first = draw(st.integers(min_value=0, max_value=polls - (1 if heartbeat else 2)))
        stop = draw(st.integers(min_value=first + 1, max_value=last_stop))
        processes.append(Process(pid, draw(st.sampled_from(USERS)), draw(st.sampled_from(PATHS)), first, stop))
    if not heartbeat:
        return History(polls, tuple(processes), heartbeat_phase=None)
    asleep = draw(st.frozensets(st.integers(min_value=1, max_value=polls - 1), max_size=polls // 2))
    resets = draw(st.frozensets(st.integers(min_value=1, max_value=polls - 1), max_size=3))
    phase = draw(st.integers(min_value=1, max_value=INTERVAL - 1))
    return History(polls, tuple(processes), asleep, resets - asleep, phase)
