from datetime import UTC, datetime, timedelta

import pytest

from streams.pipeline.dedupe.seen import first_kept_day

WEEK = timedelta(days=7)


@pytest.mark.parametrize(
    ("now", "expected"),
    [
        pytest.param(datetime(2026, 11, 27, 18, 0, tzinfo=UTC), 20_776, id="a week and a day back"),
        pytest.param(datetime(1970, 1, 1, tzinfo=UTC), 0, id="a replay clock that has not moved: the epoch"),
        pytest.param(datetime(1970, 1, 5, tzinfo=UTC), 0, id="within a week of the epoch"),
    ],
)
def test_the_first_kept_day_is_never_before_the_epoch(now, expected):
    assert first_kept_day(now, WEEK) == expected
