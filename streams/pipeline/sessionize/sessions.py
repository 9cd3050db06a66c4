"""Stage: usage sessions per (device, user, product) in event time.

Each event is an observation covering ``[event_time - interval, event_time]``. A session is a
maximal run of observations whose coverage leaves no gap longer than the session gap, so it is
a function of the set of observations alone: the order they arrive in does not matter, a late
event can only extend a session or merge neighbours (adding data never opens a gap), and
several instances of one product on a device fall into one session.

Running time is the session's span. Active time is split over minutes as the per-minute rollup
splits it (``aggregate.minute_shares``); in each minute it is capped at the part of the minute
its active samples spanned, so overlapping instances never count more than the wall clock and
a session's active time is the sum of its minutes in ``product_usage_per_minute``. Idle time is
the rest of the span when activity was measured. The session type and device time zone are
those of the observation that starts the session (ties: the smallest name), which keeps them
order independent too.

The state per key is the key's recent sessions and, per source partition, the last offset
applied: a message replayed after a crash is recognized and skipped, so applying a batch twice
changes nothing. Sessions that no admissible event can reach any more are dropped from state;
their last version stays in the warehouse.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field, replace
from decimal import Decimal
from typing import Any

import orjson

from schemas.moments import from_epoch_ms
from schemas.records import SessionRow
from schemas.settings import SessionSettings
from schemas.usage import SessionType, UsageEvent, UsageKind
from streams.pipeline.aggregate.minutes import (
    MINUTE_MS,
    MinuteShare,
    capped_active_ms,
    epoch_ms,
    minute_shares,
    minute_start,
)

_SEP = "\x1f"
DAY_MS = 86_400_000


@dataclass(frozen=True, slots=True)
class SessionKey:
    """Whose use of what, on which device; ``device_id`` is empty for SaaS sign-ins."""

    device_id: str
    user_key: str
    product: str

    def state_key(self, partition: int) -> str:
        """The state's key: the source partition first, so each partition's state stays its own."""
        return _SEP.join((str(partition), self.device_id, self.user_key, self.product))

    @classmethod
    def from_state_key(cls, state_key: str) -> SessionKey:
        _, device_id, user_key, product = state_key.split(_SEP)
        return cls(device_id, user_key, product)


def state_partition(state_key: str) -> int:
    """The source partition a state key belongs to."""
    return int(state_key.split(_SEP, 1)[0])


@dataclass(frozen=True, slots=True)
class Observation:
    """What one event says about use: a covered interval and, when measured, focused time."""

    start_ms: int
    end_ms: int
    active_ms: int | None
    signin: bool = False
    session_type: str = "unknown"
    device_timezone: str = ""


@dataclass(frozen=True, slots=True)
class KeyedObservation:
    """An observation with its session key and the message it came from (for replay marks)."""

    key: SessionKey
    observation: Observation
    topic: str
    partition: int
    offset: int


@dataclass(frozen=True, slots=True)
class Session:
    """A session as state holds it. ``minutes`` holds the raw active time per minute with the
    span its samples covered there, capped only on output; ``active_ms`` is raw time not split
    into minutes (state written before minutes were kept), capped at the span as it was."""

    start_ms: int
    end_ms: int
    active_ms: int
    events: int
    measured: int
    signins: int
    session_type: str
    device_timezone: str
    minutes: tuple[MinuteShare, ...] = ()

    @classmethod
    def of(cls, o: Observation) -> Session:
        measured = o.active_ms is not None
        shares = tuple(minute_shares(o.end_ms, o.end_ms - o.start_ms, o.active_ms or 0))
        return cls(o.start_ms, o.end_ms, 0, 1, int(measured), int(o.signin), o.session_type, o.device_timezone,
                   shares)  # fmt: skip

    def merged(self, other: Session) -> Session:
        first = min(self, other, key=lambda s: (s.start_ms, s.session_type, s.device_timezone))
        return Session(
            start_ms=min(self.start_ms, other.start_ms),
            end_ms=max(self.end_ms, other.end_ms),
            active_ms=self.active_ms + other.active_ms,
            events=self.events + other.events,
            measured=self.measured + other.measured,
            signins=self.signins + other.signins,
            session_type=first.session_type,
            device_timezone=first.device_timezone,
            minutes=merge_minutes(self.minutes, other.minutes),
        )

    def active_time_ms(self) -> int:
        """Each minute's active time capped at the span its samples covered, plus unsplit time,
        never more than the session's span."""
        split = sum(capped_active_ms(share, low, high) for _, share, low, high in self.minutes)
        return min(self.active_ms + split, self.end_ms - self.start_ms)

    def within(self, other: Session, gap_ms: int) -> bool:
        """Whether the two are no more than the gap apart (so one session)."""
        return max(self.start_ms, other.start_ms) - min(self.end_ms, other.end_ms) <= gap_ms


def merge_minutes(a: tuple[MinuteShare, ...], b: tuple[MinuteShare, ...]) -> tuple[MinuteShare, ...]:
    """Per-minute tallies of two sessions as one: shares add up, covered spans widen. Tallies
    that meet at most in one minute (the usual case: a sample after the ones held) are joined
    without a full merge."""
    if not a or not b:
        return a or b
    if a[0][0] > b[0][0]:
        a, b = b, a
    if a[-1][0] < b[0][0]:
        return a + b
    if a[-1][0] == b[0][0]:
        return (*a[:-1], _add_share(a[-1], b[0]), *b[1:])
    return _merge_all(a, b)


def _add_share(x: MinuteShare, y: MinuteShare) -> MinuteShare:
    return (x[0], x[1] + y[1], min(x[2], y[2]), max(x[3], y[3]))


def _merge_all(a: tuple[MinuteShare, ...], b: tuple[MinuteShare, ...]) -> tuple[MinuteShare, ...]:
    merged = {m[0]: m for m in a}
    for m in b:
        seen = merged.get(m[0])
        merged[m[0]] = m if seen is None else _add_share(seen, m)
    return tuple(merged[minute] for minute in sorted(merged))


@dataclass(frozen=True, slots=True)
class KeyState:
    """A key's recent sessions, sorted and pairwise more than a gap apart, and replay marks."""

    sessions: tuple[Session, ...] = ()
    marks: Mapping[str, int] = field(default_factory=dict)

    def to_bytes(self) -> bytes:
        return orjson.dumps({"m": dict(self.marks), "s": [_session_row(s) for s in self.sessions]})

    @classmethod
    def from_bytes(cls, raw: bytes | None) -> KeyState:
        if not raw:
            return cls()
        data = orjson.loads(raw)
        return cls(tuple(_session(row) for row in data["s"]), dict(data["m"]))


def _session_row(s: Session) -> list[object]:
    """A session for state; its minutes flat, each as (minutes after the start's, share, span)."""
    base = minute_start(s.start_ms)
    flat = [n for m, share, low, high in s.minutes for n in ((m - base) // MINUTE_MS, share, low, high)]
    return [s.start_ms, s.end_ms, s.active_ms, s.events, s.measured, s.signins, s.session_type, s.device_timezone,
            flat]  # fmt: skip


def _session(row: list[Any]) -> Session:
    """A session from state; rows written before minutes were kept have eight fields."""
    start, end, active, events, measured, signins, session_type, timezone = row[:8]
    flat: list[int] = row[8] if len(row) > 8 else []
    base = minute_start(start)
    shares = tuple((base + flat[i] * MINUTE_MS, flat[i + 1], flat[i + 2], flat[i + 3]) for i in range(0, len(flat), 4))
    return Session(start, end, active, events, measured, signins, session_type, timezone, shares)


@dataclass(frozen=True, slots=True)
class ProductRule:
    gap_ms: int
    min_active_ms: int


@dataclass(frozen=True, slots=True)
class SessionRules:
    """The session gap and the active-use threshold per product, and the definition's version."""

    default: ProductRule
    products: Mapping[str, ProductRule]
    definition_version: str
    horizon_ms: int

    def rule(self, product: str) -> ProductRule:
        return self.products.get(product, self.default)


def build_session_rules(settings: SessionSettings, allowed_lateness_seconds: float) -> SessionRules:
    """Rules from settings. State keeps sessions for the lateness bound plus a gap and a day,
    so any event the door admits still finds the sessions it could touch."""
    default = ProductRule(_ms(settings.gap_minutes * 60), _ms(settings.min_active_seconds))
    products = {
        name: ProductRule(
            _ms((rule.gap_minutes or settings.gap_minutes) * 60),
            _ms(settings.min_active_seconds if rule.min_active_seconds is None else rule.min_active_seconds),
        )
        for name, rule in settings.products.items()
    }
    longest_gap = max([default.gap_ms, *(r.gap_ms for r in products.values())])
    return SessionRules(
        default=default,
        products=products,
        definition_version=definition_version(settings),
        horizon_ms=_ms(allowed_lateness_seconds) + longest_gap + DAY_MS,
    )


def definition_version(settings: SessionSettings) -> str:
    """A short, stable name for a set of thresholds: equal settings give equal versions."""
    canonical = orjson.dumps(settings.model_dump(mode="json"), option=orjson.OPT_SORT_KEYS)
    return "def-" + hashlib.sha256(canonical).hexdigest()[:10]


def _ms(seconds: float) -> int:
    return round(seconds * 1000)


_SESSION_TYPES = {kind: kind.value for kind in SessionType}


def observe(event: UsageEvent) -> Observation:
    end_ms = epoch_ms(event.event_time)
    return Observation(
        start_ms=end_ms - max(0, round(event.interval_seconds * 1000)),
        end_ms=end_ms,
        active_ms=None if event.active_seconds is None else max(0, round(event.active_seconds * 1000)),
        signin=event.kind is UsageKind.SIGNIN,
        session_type=_SESSION_TYPES[event.session_type],
        device_timezone=event.device_timezone or "",
    )


def add_observation(sessions: Sequence[Session], observation: Observation, gap_ms: int) -> tuple[Session, ...]:
    """Sessions with one more observation: it joins, extends or bridges the ones within a gap."""
    return add_observations(sessions, [observation], gap_ms)


def add_observations(
    sessions: Sequence[Session], observations: Sequence[Observation], gap_ms: int
) -> tuple[Session, ...]:
    """Sessions with a batch's observations of one key, in one sweep by start: every piece no
    more than the gap after the run before it joins that run. Joining adds and widens, so the
    result is the same as adding the observations one at a time, in any order."""
    pieces = sorted([*sessions, *(Session.of(o) for o in observations)], key=_start)
    runs: list[list[Session]] = []
    reach = 0
    for piece in pieces:
        if runs and piece.start_ms - reach <= gap_ms:
            runs[-1].append(piece)
            reach = max(reach, piece.end_ms)
        else:
            runs.append([piece])
            reach = piece.end_ms
    return tuple(_joined(run) for run in runs)


def _start(session: Session) -> int:
    return session.start_ms


def _joined(run: list[Session]) -> Session:
    """One session of a run of pieces."""
    if len(run) == 1:
        return run[0]
    first = min(run, key=lambda s: (s.start_ms, s.session_type, s.device_timezone))
    minutes = run[0].minutes
    for piece in run[1:]:
        minutes = merge_minutes(minutes, piece.minutes)
    return Session(
        start_ms=first.start_ms,
        end_ms=max(s.end_ms for s in run),
        active_ms=sum(s.active_ms for s in run),
        events=sum(s.events for s in run),
        measured=sum(s.measured for s in run),
        signins=sum(s.signins for s in run),
        session_type=first.session_type,
        device_timezone=first.device_timezone,
        minutes=minutes,
    )


@dataclass(frozen=True, slots=True)
class SessionUpdate:
    """What one batch did to one key: its new state and the rows that record the change."""

    state_key: str
    partition: int
    state: KeyState
    rows: list[SessionRow]


def sessionize(
    state: KeyState,
    key: SessionKey,
    observations: Iterable[KeyedObservation],
    rules: SessionRules,
    watermark_ms: int,
) -> tuple[KeyState, list[SessionRow]]:
    """Apply a batch's observations of one key, in arrival order, skipping any message the
    state already holds; return the new state and the rows for sessions that changed."""
    rule = rules.rule(key.product)
    sessions = state.sessions
    marks = dict(state.marks)
    applied: dict[str, int] = {}
    fresh: list[Observation] = []
    for item in observations:
        mark_key = f"{item.topic}:{item.partition}"
        if item.offset <= marks.get(mark_key, -1):
            continue
        fresh.append(item.observation)
        applied[mark_key] = max(item.offset, applied.get(mark_key, -1))
    if not applied:
        return state, []
    sessions = add_observations(sessions, fresh, rule.gap_ms)
    marks.update(applied)
    rows = _changes(state.sessions, sessions, key, rule, rules.definition_version)
    horizon = watermark_ms - rules.horizon_ms
    return KeyState(tuple(s for s in sessions if s.end_ms >= horizon), marks), rows


def _changes(
    before: Sequence[Session], after: Sequence[Session], key: SessionKey, rule: ProductRule, definition: str
) -> list[SessionRow]:
    """Rows for new or changed sessions, and deletions of ids that a merge or an earlier start
    superseded. A row's version is its event count, which only grows; a deletion carries the
    count of the session that absorbed it, so it outranks every earlier version of its id."""
    old = set(before)
    rows = [_row(key, s, rule, definition) for s in after if s not in old]
    live_ids = {session_id(key, s.start_ms) for s in after}
    for gone in before:
        if gone in after or session_id(key, gone.start_ms) in live_ids:
            continue
        absorber = next(s for s in after if s.start_ms <= gone.start_ms and gone.end_ms <= s.end_ms)
        rows.append(replace(_row(key, gone, rule, definition), version=absorber.events, deleted=True))
    return rows


def _row(key: SessionKey, s: Session, rule: ProductRule, definition: str) -> SessionRow:
    running = s.end_ms - s.start_ms
    measured = s.measured > 0
    active = s.active_time_ms() if measured else 0
    return SessionRow(
        session_id=session_id(key, s.start_ms),
        device_id=key.device_id,
        user_key=key.user_key,
        product=key.product,
        started_at=from_epoch_ms(s.start_ms),
        ended_at=from_epoch_ms(s.end_ms),
        running_ms=running,
        active_ms=active,
        idle_ms=running - active if measured else 0,
        event_count=s.events,
        signins=s.signins,
        activity_measured=measured,
        counts_as_use=active >= rule.min_active_ms if measured else s.signins > 0,
        session_type=s.session_type,
        device_timezone=s.device_timezone,
        definition_version=definition,
        version=s.events,
    )


def session_id(key: SessionKey, start_ms: int) -> int:
    """Stable across runs and orders: the key and the start name the session."""
    text = _SEP.join((key.device_id, key.user_key, key.product, str(start_ms)))
    return int.from_bytes(hashlib.blake2b(text.encode(), digest_size=8).digest(), "big")


def seeded_states(rows: Iterable[tuple[Any, ...]], partition: int) -> dict[str, KeyState]:
    """State rebuilt from sessions the warehouse holds (written by a streaming worker, say), for
    keys that have no state here: new events then extend those sessions instead of starting a
    second one beside them. Active time comes back capped at the span, as it was written."""
    sessions: dict[str, list[Session]] = {}
    for device, user, product, start, end, active, events, measured, signins, kind, zone in rows:
        key = SessionKey(str(device), str(user), str(product)).state_key(partition)
        session = Session(int(start), int(end), int(active), int(events), int(measured), int(signins), str(kind),
                          str(zone))  # fmt: skip
        sessions.setdefault(key, []).append(session)
    return {key: KeyState(tuple(sorted(found, key=lambda s: s.start_ms))) for key, found in sessions.items()}


def group_by_state_key(observations: Iterable[KeyedObservation]) -> dict[str, list[KeyedObservation]]:
    """A batch's observations per state key, each list in arrival order."""
    grouped: dict[str, list[KeyedObservation]] = {}
    for item in observations:
        grouped.setdefault(item.key.state_key(item.partition), []).append(item)
    return grouped


def sessionize_batch(
    states: Mapping[str, KeyState],
    observations: Iterable[KeyedObservation],
    rules: SessionRules,
    watermark_ms: int,
) -> list[SessionUpdate]:
    """Every key a batch touched: its new state and its changed sessions, keys in sorted order."""
    updates = []
    for state_key, items in sorted(group_by_state_key(observations).items()):
        before = states.get(state_key, KeyState())
        after, rows = sessionize(before, items[0].key, items, rules, watermark_ms)
        if after is not before:
            updates.append(SessionUpdate(state_key, items[0].partition, after, rows))
    return updates


def definition_rows(settings: SessionSettings) -> list[tuple[str, str, Decimal, Decimal, Decimal]]:
    """What the current definition version means: the global thresholds (product ``''``) and
    each product's, for the ``usage_definitions`` table."""
    version = definition_version(settings)
    rows = [(version, "", _dec(settings.gap_minutes * 60), _dec(settings.min_active_seconds),
             _dec(settings.weekly_active_minutes))]  # fmt: skip
    for product, rule in sorted(settings.products.items()):
        rows.append(
            (
                version,
                product,
                _dec((rule.gap_minutes or settings.gap_minutes) * 60),
                _dec(settings.min_active_seconds if rule.min_active_seconds is None else rule.min_active_seconds),
                _dec(
                    settings.weekly_active_minutes if rule.weekly_active_minutes is None else rule.weekly_active_minutes
                ),
            )
        )
    return rows


def _dec(value: float) -> Decimal:
    return Decimal(str(round(value, 3)))
