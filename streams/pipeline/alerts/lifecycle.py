"""Stage: alert lifecycles from per-minute pool usage, user counts and last-seen times.

Every rule is a function of the data, not of when it was evaluated: the same series gives the
same alerts with the same ids, so re-evaluating after a restart, or on another worker, changes
nothing. An overrun opens at the first minute of a run of ``open_minutes`` consecutive minutes
above the seats and resolves at the first minute of a run of ``resolve_minutes`` consecutive
minutes at or below them (hysteresis: a single quiet minute does not resolve it, a single busy
minute does not open one). A sync gap opens when the silence, not counting expected-quiet
weekdays, passes the threshold, and resolves when data arrives again.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, replace
from datetime import datetime, timedelta

from schemas.alerts import Alert, AlertRule, AlertState, SubjectKind

MINUTE = timedelta(minutes=1)


@dataclass(frozen=True, slots=True)
class Episode:
    """One stretch of a condition: when it started, when it ended (None: still on), its worst."""

    opened_at: datetime
    resolved_at: datetime | None
    peak: float


def overrun_episodes(
    series: Mapping[datetime, float], seats: float, open_minutes: int, resolve_minutes: int, until: datetime
) -> list[Episode]:
    """Overruns in a per-minute series up to ``until`` (exclusive); minutes missing from the
    series had nobody in the pool (zero in use)."""
    if not series:
        return []
    minute = min(series)
    episodes: list[Episode] = []
    above_since: datetime | None = None
    below_since: datetime | None = None
    current: Episode | None = None
    while minute < until:
        in_use = series.get(minute, 0.0)
        if in_use > seats:
            below_since = None
            above_since = above_since or minute
            if current is None and minute - above_since >= (open_minutes - 1) * MINUTE:
                current = Episode(above_since, None, in_use)
            elif current is not None:
                current = replace(current, peak=max(current.peak, in_use))
        else:
            above_since = None
            below_since = below_since or minute
            if current is not None and minute - below_since >= (resolve_minutes - 1) * MINUTE:
                episodes.append(replace(current, resolved_at=below_since))
                current = None
        minute += MINUTE
    if current is not None:
        episodes.append(current)
    return episodes


def gap_opened_at(
    last_seen: datetime, now: datetime, threshold: timedelta, quiet_weekdays: Sequence[int]
) -> datetime | None:
    """The moment the silence since ``last_seen`` reached ``threshold``, counting only time on
    days that are not quiet (UTC), if that moment is before ``now``; else None."""
    quiet = set(quiet_weekdays)
    remaining = threshold.total_seconds()
    moment = last_seen
    while moment < now:
        next_day = datetime.combine(moment.date() + timedelta(days=1), datetime.min.time(), moment.tzinfo)
        stop = min(now, next_day)
        if moment.isoweekday() not in quiet:
            span = (stop - moment).total_seconds()
            if span > remaining:
                return moment + timedelta(seconds=remaining)
            remaining -= span
        moment = stop
    return None


def alert_id(rule: AlertRule, subject: str, opened_at: datetime) -> str:
    text = f"{rule.value}\x1f{subject}\x1f{opened_at.isoformat()}"
    return hashlib.blake2b(text.encode(), digest_size=12).hexdigest()


def make_alert(
    rule: AlertRule,
    kind: SubjectKind,
    subject: str,
    opened_at: datetime,
    resolved_at: datetime | None,
    value: float,
    threshold: float,
    summary: str,
    now: datetime,
) -> Alert:
    return Alert(
        alert_id=alert_id(rule, subject, opened_at),
        rule=rule,
        subject_kind=kind,
        subject=subject,
        state=AlertState.OPEN if resolved_at is None else AlertState.RESOLVED,
        opened_at=opened_at,
        resolved_at=resolved_at,
        value=value,
        threshold=threshold,
        summary=summary,
        updated_at=now,
    )


def changed_alerts(known: Mapping[str, Alert], computed: Iterable[Alert]) -> list[Alert]:
    """Alerts that are new or whose state, end or figures differ from what is recorded."""
    changes = []
    for alert in computed:
        held = known.get(alert.alert_id)
        if held is None or (held.state, held.resolved_at, held.value) != (alert.state, alert.resolved_at, alert.value):
            changes.append(alert)
    return changes


def gap_episodes(
    minutes: Sequence[datetime],
    now: datetime,
    threshold: timedelta,
    quiet_weekdays: Sequence[int],
) -> list[Episode]:
    """Silences in a subject's arrival history, given as the sorted minutes in which data
    arrived. Silence starts at the end of a minute with data (so more arrivals within that
    minute change nothing); a gap opens when it reaches the threshold (quiet days not counted)
    and resolves at the next minute with data; one still silent at ``now`` is open."""
    episodes = []
    for minute, next_minute in zip(minutes, minutes[1:], strict=False):
        silent_from = minute + MINUTE
        opened = gap_opened_at(silent_from, next_minute, threshold, quiet_weekdays)
        if opened is not None:
            episodes.append(Episode(opened, next_minute, (next_minute - silent_from).total_seconds()))
    if minutes:
        silent_from = minutes[-1] + MINUTE
        opened = gap_opened_at(silent_from, now, threshold, quiet_weekdays)
        if opened is not None:
            episodes.append(Episode(opened, None, (now - silent_from).total_seconds()))
    return episodes


def withdrawn(
    known: Iterable[Alert], computed: Iterable[Alert], rules: Iterable[AlertRule], now: datetime
) -> list[Alert]:
    """Open alerts of ``rules`` that a recomputation no longer finds (late data moved an
    overrun's first minute, say): resolved now, so nothing stays open that the data does not
    support."""
    ids = {a.alert_id for a in computed}
    wanted = set(rules)
    return [
        replace(a, state=AlertState.RESOLVED, resolved_at=now, updated_at=now, summary=f"{a.summary} (withdrawn)")
        for a in known
        if a.rule in wanted and a.state is AlertState.OPEN and a.alert_id not in ids
    ]
