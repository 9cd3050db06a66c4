"""The chaos verifier finds every kind of difference; a verifier that cannot fail proves nothing."""

from __future__ import annotations

from decimal import Decimal

import pytest

from tests.integration.chaos.ledger import compare_dead_letters, compare_rollups, compare_sessions

ROW = (2, 2, Decimal("61.5"), 3)
EXPECTED = {("Excel", "2026-12-01 09:00:00"): ROW, ("Word", "2026-12-01 09:00:00"): (1, 1, Decimal(12), 1)}


@pytest.mark.parametrize(
    ("actual", "found"),
    [
        pytest.param(dict(EXPECTED), [], id="exact"),
        pytest.param({("Excel", "2026-12-01 09:00:00"): ROW}, ["missing rollup"], id="a product-minute missing"),
        pytest.param(EXPECTED | {("Visio", "2026-12-01 09:01:00"): ROW}, ["extra rollup"], id="one counted too many"),
        pytest.param(
            EXPECTED | {("Excel", "2026-12-01 09:00:00"): (2, 2, Decimal("61.6"), 3)},
            ["rollup ('Excel'"],
            id="active seconds off by a tenth",
        ),
        pytest.param(
            EXPECTED | {("Excel", "2026-12-01 09:00:00"): (2, 2, Decimal("61.5"), 4)},
            ["rollup ('Excel'"],
            id="an event counted twice",
        ),
        pytest.param(
            EXPECTED | {("Excel", "2026-12-01 09:00:00"): (3, 2, Decimal("61.5"), 3)},
            ["rollup ('Excel'"],
            id="one distinct user too many",
        ),
    ],
)
def test_rollup_differences_are_each_named(actual, found):
    mismatches = compare_rollups(EXPECTED, actual)
    assert [m[: len(f)] for m, f in zip(mismatches, found, strict=False)] == found
    assert len(mismatches) == len(found)


def test_many_differences_are_summed_up_not_listed():
    expected = {("Excel", f"2026-12-01 09:{m:02d}:00"): ROW for m in range(40)}
    mismatches = compare_rollups(expected, {})
    assert len(mismatches) == 11 and mismatches[-1] == "... and 30 more"


@pytest.mark.parametrize(
    ("count", "letters", "found"),
    [
        pytest.param(2, [("decode", "not valid JSON"), ("admit", "event_time out of range")], 0, id="as sent"),
        pytest.param(3, [("decode", "not valid JSON")] * 2, 1, id="a poison message lost"),
        pytest.param(1, [("decode", "not valid JSON")] * 2, 1, id="a good message dead-lettered"),
        pytest.param(1, [("decode", "")], 1, id="a letter without a reason"),
    ],
)
def test_dead_letters_match_what_was_broken(count, letters, found):
    assert len(compare_dead_letters(count, letters)) == found


def test_sessions_that_differ_are_listed():
    session = ("dev-1", "u", "Excel", "2026-12-01 09:00:00", "2026-12-01 09:30:00", "1800", "30")
    split = [session[:4] + ("2026-12-01 09:10:00",) + session[5:], session[:3] + ("2026-12-01 09:11:00",) + session[4:]]
    assert compare_sessions([session], [session]) == []
    mismatches = compare_sessions([session], split)
    assert mismatches[0] == "sessions: 1 expected, 2 found"
    assert len(mismatches) == 4
