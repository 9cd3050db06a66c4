"""Alert lifecycles as pure functions: overrun hysteresis, sync gaps and quiet days, stable ids."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from hypothesis import given
from hypothesis import strategies as st

from schemas.alerts import AlertRule, AlertState, SubjectKind
from streams.pipeline.alerts.lifecycle import (
    Episode,
    alert_id,
    changed_alerts,
    gap_episodes,
    gap_opened_at,
    make_alert,
    overrun_episodes,
    withdrawn,
)

T0 = datetime(2026, 11, 24, 9, 0, tzinfo=UTC)  # a Tuesday
MIN = timedelta(minutes=1)


def series(*values: float) -> dict[datetime, float]:
    return {T0 + i * MIN: v for i, v in enumerate(values)}


def test_an_overrun_opens_after_n_minutes_and_resolves_after_m_minutes_below():
    usage = series(2, 3, 3, 3, 3, 3, 2, 3, 2, 2, 1)
    (episode,) = overrun_episodes(usage, seats=2, open_minutes=5, resolve_minutes=2, until=T0 + 20 * MIN)
    assert episode == Episode(T0 + 1 * MIN, T0 + 8 * MIN, 3)


def test_shorter_runs_never_open():
    usage = series(3, 3, 3, 3, 2, 3, 3, 3, 3, 2)
    assert overrun_episodes(usage, seats=2, open_minutes=5, resolve_minutes=2, until=T0 + 20 * MIN) == []


def test_one_quiet_minute_does_not_resolve_and_the_peak_is_kept():
    usage = series(4, 4, 4, 2, 5, 2, 2)
    (episode,) = overrun_episodes(usage, seats=3, open_minutes=3, resolve_minutes=2, until=T0 + 10 * MIN)
    assert episode == Episode(T0, T0 + 5 * MIN, 5)


def test_an_overrun_still_running_is_open_and_missing_minutes_count_as_zero():
    usage = {T0: 5.0, T0 + MIN: 5.0, T0 + 2 * MIN: 5.0, T0 + 10 * MIN: 1.0}
    assert overrun_episodes(usage, 2, 3, 2, until=T0 + 3 * MIN) == [Episode(T0, None, 5)]
    assert overrun_episodes(usage, 2, 3, 2, until=T0 + 12 * MIN) == [Episode(T0, T0 + 3 * MIN, 5)]


@given(st.lists(st.integers(0, 6), min_size=1, max_size=60), st.integers(1, 6), st.integers(1, 6))
def test_episodes_never_overlap_and_hold_the_seats_rule(values, open_minutes, resolve_minutes):
    usage = series(*values)
    episodes = overrun_episodes(usage, 3, open_minutes, resolve_minutes, until=T0 + len(values) * MIN)
    for episode in episodes:
        start = int((episode.opened_at - T0) / MIN)
        assert all(v > 3 for v in values[start : start + open_minutes])
        if episode.resolved_at is not None:
            end = int((episode.resolved_at - T0) / MIN)
            assert all(v <= 3 for v in values[end : end + resolve_minutes])
    for first, second in zip(episodes, episodes[1:], strict=False):
        assert first.resolved_at is not None and first.resolved_at <= second.opened_at


def test_a_gap_opens_when_the_silence_reaches_the_threshold():
    last = T0
    assert gap_opened_at(last, T0 + timedelta(hours=23), timedelta(hours=24), ()) is None
    assert gap_opened_at(last, T0 + timedelta(hours=25), timedelta(hours=24), ()) == T0 + timedelta(hours=24)


def test_quiet_weekdays_do_not_count_towards_a_gap():
    friday_evening = datetime(2026, 11, 27, 18, 0, tzinfo=UTC)
    monday_noon = datetime(2026, 11, 30, 12, 0, tzinfo=UTC)
    threshold = timedelta(hours=24)
    assert gap_opened_at(friday_evening, monday_noon, threshold, (6, 7)) is None
    assert gap_opened_at(friday_evening, monday_noon, threshold, ()) == friday_evening + threshold
    later = datetime(2026, 12, 1, 0, 0, tzinfo=UTC)
    assert gap_opened_at(friday_evening, later, threshold, (6, 7)) == datetime(2026, 11, 30, 18, 0, tzinfo=UTC)


def test_gap_episodes_resolve_when_data_returns_and_stay_open_while_silent():
    hour = timedelta(hours=1)
    minutes = [T0, T0 + 30 * hour, T0 + 31 * hour]
    episodes = gap_episodes(minutes, T0 + 60 * hour, timedelta(hours=24), ())
    assert episodes == [
        Episode(T0 + MIN + 24 * hour, T0 + 30 * hour, (30 * hour - MIN).total_seconds()),
        Episode(T0 + 31 * hour + MIN + 24 * hour, None, (29 * hour - MIN).total_seconds()),
    ]


def test_withdrawn_resolves_open_alerts_a_recomputation_no_longer_finds():
    kept = make_alert(AlertRule.SYNC_GAP, SubjectKind.DEVICE, "device:a", T0, None, 1, 1, "s", T0)
    moved = make_alert(AlertRule.SYNC_GAP, SubjectKind.DEVICE, "device:b", T0, None, 1, 1, "s", T0)
    other_rule = make_alert(AlertRule.UNLICENSED_USE, SubjectKind.PRODUCT, "X", T0, None, 1, 0, "s", T0)
    (gone,) = withdrawn([kept, moved, other_rule], [kept], (AlertRule.SYNC_GAP,), T0 + MIN)
    assert gone.alert_id == moved.alert_id and gone.state is AlertState.RESOLVED and gone.resolved_at == T0 + MIN


def test_alert_ids_come_from_the_data_so_a_re_evaluation_changes_nothing():
    a = make_alert(AlertRule.POOL_OVERRUN, SubjectKind.POOL, "acad", T0, None, 3, 2, "s", now=T0 + MIN)
    again = make_alert(AlertRule.POOL_OVERRUN, SubjectKind.POOL, "acad", T0, None, 3, 2, "s", now=T0 + 9 * MIN)
    assert a.alert_id == again.alert_id == alert_id(AlertRule.POOL_OVERRUN, "acad", T0)
    assert changed_alerts({a.alert_id: a}, [again]) == []
    resolved = make_alert(AlertRule.POOL_OVERRUN, SubjectKind.POOL, "acad", T0, T0 + 9 * MIN, 3, 2, "s", T0)
    assert resolved.state is AlertState.RESOLVED
    assert changed_alerts({a.alert_id: a}, [resolved]) == [resolved]
    other = make_alert(AlertRule.POOL_OVERRUN, SubjectKind.POOL, "acad", T0 + MIN, None, 3, 2, "s", T0)
    assert other.alert_id != a.alert_id
