"""What ``seatmeter alerts evaluate`` prints for each alert change."""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, datetime

import pytest

from schemas.alerts import Alert, AlertRule, AlertState, SubjectKind
from streams.cli.alert_once import change_line

FIRST = Alert(
    alert_id="pool_overrun:pool:cad:202611270905",
    rule=AlertRule.POOL_OVERRUN,
    subject_kind=SubjectKind.POOL,
    subject="cad",
    state=AlertState.RESOLVED,
    opened_at=datetime(2026, 11, 27, 9, 5, tzinfo=UTC),
    resolved_at=datetime(2026, 11, 27, 9, 35, tzinfo=UTC),
    value=12.0,
    threshold=10.0,
    summary="cad: 12 seats running, 10 owned",
    updated_at=datetime(2026, 11, 27, 9, 40, tzinfo=UTC),
)
SECOND = replace(
    FIRST,
    alert_id="pool_overrun:pool:cad:202611271400",
    state=AlertState.OPEN,
    opened_at=datetime(2026, 11, 27, 14, 0, tzinfo=UTC),
    resolved_at=None,
)


@pytest.mark.parametrize(
    ("alert", "line"),
    [
        pytest.param(
            FIRST,
            "resolved pool_overrun       opened 2026-11-27 09:05, resolved 2026-11-27 09:35: "
            "cad: 12 seats running, 10 owned",
            id="a resolved episode: when it opened and resolved",
        ),
        pytest.param(
            SECOND,
            "open     pool_overrun       opened 2026-11-27 14:00: cad: 12 seats running, 10 owned",
            id="an open episode: when it opened",
        ),
    ],
)
def test_an_alert_change_says_when_it_opened_and_resolved(alert, line):
    assert change_line(alert) == line


def test_two_episodes_of_one_overrun_print_two_different_lines():
    assert change_line(FIRST) != change_line(SECOND)
