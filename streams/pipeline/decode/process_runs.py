"""Stage: osquery differential results become the sightings a snapshot query would have logged.

A differential query logs a process once as ``added`` and once as ``removed``, and nothing while it
keeps running. Between the two, the process is running at every **sign of life** of its host: every
result line the host sends of another query, above all the pack's heartbeat (a snapshot query at the
same interval). (A line of the run's own query does not count: in the event format, the next line of
the same run may remove it.) At each sign of life this stage emits one sighting of every run open on
the host, covering the polling interval that ends there, exactly as a snapshot row would. A host that
sleeps sends nothing, so its runs show the same gaps as snapshot results.

What closes a run:
- its ``removed`` row: it is not running at that line or later;
- a restart of osquery's differential state (a new ``--schedule_epoch``, a lost database, a
  reinstall), which logs every running process as ``added`` again, at ``counter`` 0. A run re-added
  then goes on as one run; a run of that query not re-added ended at its last sign of life before.
  A heartbeat from a new osquery instance or epoch shows the restart too, even when the restarted
  query found nothing to log: runs not logged again since the previous heartbeat have ended.

Without any heartbeat inside a run, signs of life may be hours apart, so each sighting of it covers
the whole run so far (from the polling interval before its ``added``), and its ``removed`` row
covers it up to the poll before. Time a host slept inside such a run then counts as running.

State per host (:class:`HostRuns`) holds its open runs and the recently ended ones. Every update is
a union (first and latest times, flags set once), and a line's sightings depend only on the state
and the line, so applying a batch again gives the same state and the same sightings (same ids), and
the later stages drop the copies. Hosts and ended runs older than the horizon are dropped.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field, replace

import orjson

from schemas.moments import epoch_ms, from_epoch_ms
from schemas.osquery import HostLine, ProcessChange
from schemas.records import SourceRecord
from schemas.usage import ExecutableRef, SessionType, UsageEvent, UsageKind, UsageSource
from streams.pipeline.decode.opening import SourceDecoded, derived_event_id
from streams.pipeline.decode.osquery import OsqueryDecoded

_SEP = "\x1f"


@dataclass(frozen=True, slots=True)
class Run:
    """One process of one query, from its ``added`` row; times in epoch milliseconds."""

    query: str
    added_ms: int
    confirmed_ms: int  # the latest ``added`` row, after a restart of osquery's state
    ended_ms: int | None  # not running at or after this time
    heartbeat_ms: int | None  # the first heartbeat while it ran
    template: UsageEvent

    def running_at(self, time_ms: int, reset_ms: int | None) -> bool:
        if time_ms < self.added_ms or (self.ended_ms is not None and time_ms >= self.ended_ms):
            return False
        return not self.missed(reset_ms) or time_ms < (reset_ms or 0)

    def missed(self, reset_ms: int | None) -> bool:
        """Whether a restart of osquery's state at ``reset_ms`` did not log this run again."""
        return reset_ms is not None and self.added_ms < reset_ms and self.confirmed_ms < reset_ms


@dataclass(frozen=True, slots=True)
class HostRuns:
    """A host's runs by id, the restarts of its queries' state not applied yet, its last line."""

    runs: Mapping[str, Run] = field(default_factory=dict)
    resets: Mapping[str, int] = field(default_factory=dict)
    last_seen_ms: int = -1
    generation: str = ""  # of the latest heartbeat
    heartbeat_ms: int = -1

    def to_bytes(self) -> bytes:
        runs = {run_id: _run_row(run) for run_id, run in self.runs.items()}
        return orjson.dumps(
            {"r": runs, "z": dict(self.resets), "t": self.last_seen_ms, "g": self.generation, "h": self.heartbeat_ms}
        )

    @classmethod
    def from_bytes(cls, raw: bytes | None) -> HostRuns:
        if not raw:
            return cls()
        data = orjson.loads(raw)
        runs = {run_id: _run_of(row) for run_id, row in data["r"].items()}
        return cls(runs, dict(data["z"]), data["t"], data["g"], data["h"])


def track_line(state: HostRuns, line: HostLine, changes: Sequence[ProcessChange]) -> tuple[HostRuns, list[UsageEvent]]:
    """One line of a host: close runs a restart missed, apply its rows, then sight every open run."""
    runs, resets = _apply_resets(state, line.time_ms)
    generation, heartbeat_ms = _apply_generation(state, line, runs)
    finals: list[UsageEvent] = []
    for change in changes:
        finals.extend(_apply_change(runs, change, line))
    if line.initial:
        resets[line.query] = max(line.time_ms, resets.get(line.query, line.time_ms))
    sightings: list[UsageEvent] = []
    added_here = {change.run_id for change in changes if change.added}
    for run_id, run in sorted(runs.items()):
        if run.query == line.query and run_id not in added_here:
            continue  # its own query's other rows at this time may still remove it
        if not run.running_at(line.time_ms, resets.get(run.query)):
            continue
        if line.heartbeat and (run.heartbeat_ms is None or line.time_ms < run.heartbeat_ms):
            run = runs[run_id] = replace(run, heartbeat_ms=line.time_ms)
        sightings.append(sighting(line.host, run_id, run, line.time_ms))
    last_seen = max(state.last_seen_ms, line.time_ms)
    return HostRuns(runs, resets, last_seen, generation, heartbeat_ms), finals + sightings


def _apply_generation(state: HostRuns, line: HostLine, runs: dict[str, Run]) -> tuple[str, int]:
    """A heartbeat from a new osquery instance or epoch: the differential state restarted after the
    previous heartbeat, so every run not logged again since then has ended (even when the restarted
    query found nothing to log, which a counter cannot show)."""
    if not line.heartbeat or line.time_ms <= state.heartbeat_ms:
        return state.generation, state.heartbeat_ms
    if state.generation and line.generation != state.generation:
        for run_id, run in runs.items():
            if run.ended_ms is None and run.confirmed_ms <= state.heartbeat_ms:
                runs[run_id] = replace(run, ended_ms=line.time_ms)
    return line.generation, line.time_ms


def _apply_resets(state: HostRuns, time_ms: int) -> tuple[dict[str, Run], dict[str, int]]:
    """A restart at T is complete once a later line comes: runs it did not log again ended at T."""
    runs, resets = dict(state.runs), dict(state.resets)
    for query, reset_ms in list(resets.items()):
        if time_ms <= reset_ms:
            continue
        del resets[query]
        for run_id, run in runs.items():
            if run.query == query and run.ended_ms is None and run.missed(reset_ms):
                runs[run_id] = replace(run, ended_ms=reset_ms)
    return runs, resets


def _apply_change(runs: dict[str, Run], change: ProcessChange, line: HostLine) -> list[UsageEvent]:
    run = runs.get(change.run_id)
    time_ms = line.time_ms
    if change.added:
        if run is None or (run.ended_ms is not None and time_ms >= run.ended_ms):
            runs[change.run_id] = Run(line.query, time_ms, time_ms, None, None, change.event)
        else:
            runs[change.run_id] = replace(run, confirmed_ms=max(run.confirmed_ms, time_ms))
        return []
    if run is None or time_ms < run.added_ms:
        return []  # its ``added`` row is older than the state kept, or was never received
    ended = time_ms if run.ended_ms is None else min(run.ended_ms, time_ms)
    runs[change.run_id] = run = replace(run, ended_ms=ended)
    if run.heartbeat_ms is not None and run.heartbeat_ms <= time_ms:
        return []
    interval_ms = _interval_ms(run.template)
    return [_covering(line.host, change.run_id, run, max(run.added_ms, time_ms - interval_ms), "removed")]


def sighting(host: str, run_id: str, run: Run, time_ms: int) -> UsageEvent:
    """The run as a snapshot row at ``time_ms``: the polling interval before it; without a heartbeat
    since the run began, everything from the interval before its ``added`` row."""
    return _covering(host, run_id, run, time_ms, "running")


def _covering(host: str, run_id: str, run: Run, end_ms: int, why: str) -> UsageEvent:
    interval_ms = _interval_ms(run.template)
    start_ms = end_ms - interval_ms
    if run.heartbeat_ms is None or run.heartbeat_ms > end_ms:
        start_ms = min(start_ms, run.added_ms - interval_ms)
    return replace(
        run.template,
        event_id=derived_event_id("osquery", host, run_id, end_ms, start_ms, why),
        event_time=from_epoch_ms(end_ms),
        kind=UsageKind.SNAPSHOT,
        interval_seconds=(end_ms - start_ms) / 1000,
    )


def _interval_ms(event: UsageEvent) -> int:
    return round(event.interval_seconds * 1000)


def expire(state: HostRuns, horizon_ms: int) -> HostRuns | None:
    """Without ended runs older than the horizon; ``None`` when the host itself is older."""
    if state.last_seen_ms < horizon_ms:
        return None
    runs = {k: r for k, r in state.runs.items() if r.ended_ms is None or r.ended_ms >= horizon_ms}
    return replace(state, runs=runs)


def run_state_key(partition: int, host: str) -> str:
    """The state's key: the source partition first, as for sessions, so state moves with it."""
    return f"{partition}{_SEP}{host}"


@dataclass(frozen=True, slots=True)
class RunUpdate:
    """A host's new state (``None``: forget the host) under its key and source partition."""

    state_key: str
    partition: int
    state: HostRuns | None


@dataclass(frozen=True, slots=True)
class RunsStep:
    """Each record's decoded content with differential rows replaced by sightings, and the states."""

    decoded: dict[tuple[str, int, int], SourceDecoded]
    updates: list[RunUpdate]


def run_state_keys(items: Sequence[tuple[SourceRecord, SourceDecoded]]) -> list[str]:
    """The state keys of the hosts that sent the lines of a batch."""
    return sorted({run_state_key(r.partition, line.host) for r, d in items if (line := host_line(d)) is not None})


def track_runs_batch(
    states: Mapping[str, HostRuns],
    items: Sequence[tuple[SourceRecord, SourceDecoded]],
    horizon_ms: int,
    watermark_ms: int,
) -> RunsStep:
    """Every line of a batch in time order (arrival order among lines of one time), per host: the
    sightings each line gives (each once per batch) in place of its differential rows, and the new
    state of every touched host that has runs or had them (``None``: it has none left)."""
    current = dict(states)
    emitted: set[str] = set()
    decoded: dict[tuple[str, int, int], SourceDecoded] = {}
    touched: dict[str, int] = {}
    for record, content in sorted(items, key=_line_time):
        coordinates = (record.topic, record.partition, record.offset)
        line = host_line(content)
        if line is None:
            decoded[coordinates] = content
            continue
        state_key = run_state_key(record.partition, line.host)
        state, events = track_line(current.get(state_key, HostRuns()), line, _changes(content))
        current[state_key], touched[state_key] = state, record.partition
        fresh = [e for e in events if e.event_id not in emitted]
        emitted.update(e.event_id for e in fresh)
        decoded[coordinates] = replace(content, events=[*content.events, *fresh])
    horizon = watermark_ms - horizon_ms
    updates = []
    for state_key, partition in sorted(touched.items()):
        kept = expire(current[state_key], horizon)
        if kept is not None and not _holds_runs(kept):
            kept = None
        if kept is not None or _holds_runs(states.get(state_key)):
            updates.append(RunUpdate(state_key, partition, kept))
    return RunsStep(decoded, updates)


def _line_time(item: tuple[SourceRecord, SourceDecoded]) -> int:
    line = host_line(item[1])
    return -1 if line is None else line.time_ms


def _holds_runs(state: HostRuns | None) -> bool:
    """A host without runs is not written: snapshot-only hosts cost their state nothing."""
    return state is not None and bool(state.runs or state.resets)


def host_line(content: SourceDecoded) -> HostLine | None:
    return content.line if isinstance(content, OsqueryDecoded) else None


def _changes(content: SourceDecoded) -> Sequence[ProcessChange]:
    return content.changes if isinstance(content, OsqueryDecoded) else ()


def observed_ms(content: SourceDecoded) -> list[int]:
    """The times a decoded message speaks for: its events', and its line's when it has one."""
    line = host_line(content)
    return [epoch_ms(e.event_time) for e in content.events] + ([] if line is None else [line.time_ms])


def _run_row(run: Run) -> list[object]:
    return [run.query, run.added_ms, run.confirmed_ms, run.ended_ms, run.heartbeat_ms, _event_row(run.template)]


def _run_of(row: list[object]) -> Run:
    query, added, confirmed, ended, heartbeat, template = row
    return Run(str(query), int(str(added)), int(str(confirmed)), _int_or_none(ended), _int_or_none(heartbeat),
               _event_of(template))  # fmt: skip


def _int_or_none(value: object) -> int | None:
    return None if value is None else int(str(value))


def _event_row(e: UsageEvent) -> dict[str, object]:
    executable = e.executable or ExecutableRef("", "")
    return {
        "id": e.event_id, "i": e.source_instance, "t": epoch_ms(e.event_time), "u": e.user,
        "x": [executable.path, executable.file_name, executable.publisher, executable.product_name,
              executable.version, executable.sha256],
        "d": e.device_id, "z": e.device_timezone, "s": e.session_type.value, "g": e.device_group,
        "n": e.interval_seconds,
    }  # fmt: skip


def _event_of(raw: object) -> UsageEvent:
    data = dict(raw) if isinstance(raw, dict) else {}
    path, name, publisher, product, version, sha256 = data["x"]
    return UsageEvent(
        event_id=data["id"],
        source=UsageSource.OSQUERY,
        source_instance=data["i"],
        event_time=from_epoch_ms(data["t"]),
        user=data["u"],
        kind=UsageKind.SNAPSHOT,
        executable=ExecutableRef(path, name, publisher, product, version, sha256),
        device_id=data["d"],
        device_timezone=data["z"],
        session_type=SessionType(data["s"]),
        device_group=data["g"],
        interval_seconds=float(data["n"]),
    )
