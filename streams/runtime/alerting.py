"""The alert evaluator: reads the warehouse, runs the alert stages, records and sends changes.

It runs on the leader worker every ``alerts.evaluate_every_seconds``. Each run recomputes the
rules from the data (see ``streams.pipeline.alerts.lifecycle``), compares with the open alerts recorded in
the ``alerts`` table and writes only what changed: the table, the ``alerts`` topic, metrics and,
for openings and resolutions, the optional webhook. Because alert ids come from the data, a run
repeated after a crash, or by a new leader, writes the same ids again and nothing doubles.
"""

from __future__ import annotations

import logging
from collections import defaultdict
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from clickhouse_connect.driver.client import Client

from schemas.alerts import Alert, AlertRule, AlertState, SubjectKind
from schemas.moments import as_utc
from schemas.settings import AlertSettings
from sinks.clickhouse import queries
from sinks.clickhouse.pool_usage import PoolUsageMaterializer
from sinks.clickhouse.warehouse import Warehouse
from sinks.clickhouse.writers import AlertWriter
from streams.pipeline.alerts.lifecycle import changed_alerts, gap_episodes, make_alert, overrun_episodes, withdrawn
from streams.runtime import metrics

log = logging.getLogger(__name__)

MINUTE_MODELS = ("concurrent_user", "per_device", "per_core")
WINDOW_MODELS = ("named_user", "subscription_seat")
LOOKBACK = timedelta(hours=24)
DEVICE_MEMORY = timedelta(days=30)

Publish = Callable[[Sequence[Alert]], Awaitable[None]]


@dataclass(frozen=True, slots=True)
class Pool:
    pool_id: str
    name: str
    license_model: str
    seats: int


class AlertEvaluator:
    def __init__(self, warehouse: Warehouse, settings: AlertSettings, publish: Publish, notify: Publish) -> None:
        self._warehouse = warehouse
        self._settings = settings
        self._publish = publish
        self._notify = notify
        self._writer = AlertWriter()
        self._pool_usage = PoolUsageMaterializer()

    async def evaluate(self, now: datetime | None = None, since: datetime | None = None) -> list[Alert]:
        """One evaluation at ``now`` (default: the wall clock), looking back to ``since`` (default:
        a day, and to the opening of any alert still open); returns the alerts that changed."""
        now = (now or datetime.now(UTC)).replace(microsecond=0)
        await self._warehouse.run(self._pool_usage.refresh)
        known = {a.alert_id: a for a in await self._warehouse.run(self._writer.open_alerts)}
        computed = await self._warehouse.run(self._compute, now, list(known.values()), since)
        computed += withdrawn(known.values(), computed, (AlertRule.POOL_OVERRUN, AlertRule.SYNC_GAP), now)
        changes = changed_alerts(known, computed)
        if changes:
            await self._warehouse.run(self._writer.write, changes)
            await self._publish(changes)
            transitions = [a for a in changes if known.get(a.alert_id, a).state != a.state or a.alert_id not in known]
            if transitions:
                await self._notify(transitions)
            for alert in transitions:
                metrics.ALERT_TRANSITIONS.labels(alert.rule.value, alert.state.value).inc()
        self._export_open(known, changes)
        metrics.ALERT_EVALUATION_TIMESTAMP.set(now.timestamp())
        return changes

    def _compute(self, client: Client, now: datetime, known: list[Alert], since: datetime | None) -> list[Alert]:
        pools = _pools(client)
        open_by_subject: dict[tuple[AlertRule, str], Alert] = {(a.rule, a.subject): a for a in known}
        alerts: list[Alert] = []
        alerts += self._overruns(client, now, pools, known, since)
        alerts += self._named_user_overruns(client, now, [p for p in pools if p.license_model in WINDOW_MODELS],
                                            open_by_subject)  # fmt: skip
        alerts += self._unlicensed(client, now, open_by_subject)
        alerts += self._sync_gaps(client, now, since)
        return alerts

    def _overruns(
        self, client: Client, now: datetime, pools: list[Pool], known: list[Alert], since: datetime | None
    ) -> list[Alert]:
        """Minute overruns for concurrent-user, per-device and per-core pools; the gauges for all."""
        if not pools:
            return []
        until = now.replace(second=0)
        opened = [a.opened_at for a in known if a.rule is AlertRule.POOL_OVERRUN]
        earliest = since or until - LOOKBACK
        start = min([earliest, *(o - timedelta(minutes=self._settings.overrun_open_minutes) for o in opened)])
        series = _pool_series(client, start, until)
        alerts = []
        for pool in (p for p in pools if p.license_model in MINUTE_MODELS):
            for episode in overrun_episodes(
                {minute: running for minute, (running, _) in series.get(pool.pool_id, {}).items()},
                pool.seats,
                self._settings.overrun_open_minutes,
                self._settings.overrun_resolve_minutes,
                until,
            ):
                summary = f"{pool.name}: {episode.peak:g} in use against {pool.seats} seats ({pool.license_model})"
                alerts.append(make_alert(AlertRule.POOL_OVERRUN, SubjectKind.POOL, pool.pool_id, episode.opened_at,
                                         episode.resolved_at, episode.peak, pool.seats, summary, now))  # fmt: skip
        self._export_pools(pools, series, until)
        return alerts

    def _named_user_overruns(
        self, client: Client, now: datetime, pools: list[Pool], open_by_subject: dict[tuple[AlertRule, str], Alert]
    ) -> list[Alert]:
        if not pools:
            return []
        since = now - timedelta(days=self._settings.named_user_window_days)
        users: dict[str, int] = {
            str(pool): int(count)
            for pool, count in client.query(queries.load("alert_named_users"), parameters={"since": since}).result_rows
        }
        return self._level_alerts(
            AlertRule.NAMED_USER_OVERRUN,
            SubjectKind.POOL,
            {p.pool_id: (float(users.get(p.pool_id, 0)), float(p.seats), p.name) for p in pools},
            open_by_subject,
            now,
            "{name}: {value:g} distinct users in {days} days against {threshold:g} seats",
        )

    def _unlicensed(
        self, client: Client, now: datetime, open_by_subject: dict[tuple[AlertRule, str], Alert]
    ) -> list[Alert]:
        since = now - timedelta(days=self._settings.named_user_window_days)
        rows = client.query(queries.load("alert_unlicensed"), parameters={"since": since}).result_rows
        levels = {str(product): (float(users), 0.0, str(product)) for product, users in rows}
        for (rule, subject), _ in open_by_subject.items():
            if rule is AlertRule.UNLICENSED_USE and subject not in levels:
                levels[subject] = (0.0, 0.0, subject)
        return self._level_alerts(
            AlertRule.UNLICENSED_USE,
            SubjectKind.PRODUCT,
            levels,
            open_by_subject,
            now,
            "{name}: used by {value:g} people with no license pool covering it",
        )

    def _level_alerts(
        self,
        rule: AlertRule,
        kind: SubjectKind,
        levels: dict[str, tuple[float, float, str]],
        open_by_subject: dict[tuple[AlertRule, str], Alert],
        now: datetime,
        template: str,
    ) -> list[Alert]:
        """Open while value > threshold; an open alert keeps its opening time and resolves now."""
        alerts = []
        opened_now = now.replace(second=0)
        for subject, (value, threshold, name) in levels.items():
            held = open_by_subject.get((rule, subject))
            days = self._settings.named_user_window_days
            summary = template.format(name=name, value=value, threshold=threshold, days=days)
            if value > threshold:
                opened = held.opened_at if held else opened_now
                alerts.append(make_alert(rule, kind, subject, opened, None, value, threshold, summary, now))
            elif held is not None:
                alerts.append(make_alert(rule, kind, subject, held.opened_at, now, value, threshold, summary, now))
        return alerts

    def _sync_gaps(self, client: Client, now: datetime, since: datetime | None) -> list[Alert]:
        settings = self._settings
        longest = max([settings.sync_gap_hours, *settings.sync_gap_hours_by_source.values()])
        start = since or now - LOOKBACK - timedelta(hours=longest)
        arrivals = _arrivals(client, start, now - DEVICE_MEMORY)
        alerts = []
        for (kind, subject), history in arrivals.items():
            hours = settings.sync_gap_hours_by_source.get(subject, settings.sync_gap_hours_by_source.get(kind, 0.0))
            threshold = timedelta(hours=hours or settings.sync_gap_hours)
            for episode in gap_episodes(history, now, threshold, settings.quiet_weekdays):
                silence = timedelta(seconds=episode.peak) if episode.resolved_at else threshold
                state = "silent" if episode.resolved_at is None else "was silent"
                summary = f"{kind} {subject}: {state} since {episode.opened_at - threshold:%Y-%m-%d %H:%M} UTC"
                alerts.append(make_alert(AlertRule.SYNC_GAP, SubjectKind(kind), f"{kind}:{subject}", episode.opened_at,
                                         episode.resolved_at, silence.total_seconds(), threshold.total_seconds(),
                                         summary, now))  # fmt: skip
        return alerts

    def _export_pools(
        self, pools: list[Pool], series: dict[str, dict[datetime, tuple[float, float]]], until: datetime
    ) -> None:
        last_minute = until - timedelta(minutes=1)
        for pool in pools:
            running, active = series.get(pool.pool_id, {}).get(last_minute, (0.0, 0.0))
            metrics.POOL_SEATS.labels(pool.pool_id).set(pool.seats)
            metrics.POOL_SEATS_IN_USE.labels(pool.pool_id, "running").set(running)
            metrics.POOL_SEATS_IN_USE.labels(pool.pool_id, "active").set(active)

    @staticmethod
    def _export_open(known: dict[str, Alert], changes: list[Alert]) -> None:
        state = dict(known)
        state.update({a.alert_id: a for a in changes})
        counts: dict[str, int] = defaultdict(int)
        for alert in state.values():
            if alert.state is AlertState.OPEN:
                counts[alert.rule.value] += 1
        for rule in AlertRule:
            metrics.ALERTS_OPEN.labels(rule.value).set(counts[rule.value])


def _pools(client: Client) -> list[Pool]:
    rows = client.query(queries.load("alert_pools")).result_rows
    return [Pool(str(r[0]), str(r[1]), str(r[2]), int(r[3])) for r in rows]


def _pool_series(client: Client, start: datetime, until: datetime) -> dict[str, dict[datetime, tuple[float, float]]]:
    """Seats in use (running, active) per pool and minute; the overrun rule reads ``running``."""
    rows = client.query(
        queries.load("alert_pool_minutes"),
        parameters={"start": start.replace(tzinfo=None), "until": until.replace(tzinfo=None)},
    ).result_rows
    series: dict[str, dict[datetime, tuple[float, float]]] = defaultdict(dict)
    for pool_id, minute, running, active in rows:
        series[str(pool_id)][as_utc(minute)] = (float(running), float(active or 0))
    return series


def _arrivals(client: Client, start: datetime, remembered: datetime) -> dict[tuple[str, str], list[datetime]]:
    """Per subject, the minutes with data since ``start``; a subject silent since before
    ``start`` (but heard from after ``remembered``) gets the minute of its last arrival alone."""
    history: dict[tuple[str, str], list[datetime]] = defaultdict(list)
    rows = client.query(queries.load("alert_source_minutes"), parameters={"start": start}).result_rows
    for kind, subject, minute in rows:
        history[(str(kind), str(subject))].append(as_utc(minute))
    latest = client.query(queries.load("alert_source_last_seen"), parameters={"remembered": remembered}).result_rows
    for kind, subject, seen_at in latest:
        key = (str(kind), str(subject))
        if key not in history:
            history[key].append(as_utc(seen_at).replace(second=0, microsecond=0))
    return history
