import pytest
from hypothesis import given
from hypothesis import strategies as st

from streams.pipeline.admit.progress import OffsetGap, last_offsets, offset_gaps, unwritten
from tests.unit.helpers import record


@pytest.mark.parametrize(
    ("written", "expected_offsets"),
    [
        pytest.param({}, [3, 4, 5], id="nothing written yet"),
        pytest.param({("agent", 0): 3}, [4, 5], id="crash after first message"),
        pytest.param({("agent", 0): 5}, [], id="whole batch already written"),
        pytest.param({("agent", 1): 9}, [3, 4, 5], id="other partition's mark ignored"),
        pytest.param({("other", 0): 9}, [3, 4, 5], id="other topic's mark ignored"),
    ],
)
def test_unwritten_skips_what_the_warehouse_holds(written, expected_offsets):
    batch = [record({}, offset=o) for o in (3, 4, 5)]
    assert [r.offset for r in unwritten(batch, written)] == expected_offsets


def test_last_offsets_per_partition():
    batch = [record({}, offset=4, partition=0), record({}, offset=9, partition=1), record({}, offset=2, partition=0)]
    assert last_offsets(batch) == {("agent", 0): 4, ("agent", 1): 9}


@pytest.mark.parametrize(
    ("written", "offsets", "expected"),
    [
        pytest.param({("agent", 0): 2}, [3, 4, 5], [], id="continues from the mark"),
        pytest.param({}, [0, 1], [], id="first batch from offset 0"),
        pytest.param({}, [4, 5], [OffsetGap("agent", 0, 0, 3)], id="no mark: everything before is missing"),
        pytest.param({("agent", 0): 2}, [7, 8], [OffsetGap("agent", 0, 3, 6)], id="batch starts past the mark"),
        pytest.param(
            {("agent", 0): 2},
            [3, 5, 9],
            [OffsetGap("agent", 0, 4, 4), OffsetGap("agent", 0, 6, 8)],
            id="holes inside the batch",
        ),
        pytest.param({("agent", 0): 9}, [3, 4, 10], [], id="stale redeliveries below the mark are no gap"),
        pytest.param({("agent", 0): 9}, [3, 4], [], id="only stale redeliveries"),
        pytest.param({("agent", 0): 2}, [5, 3, 4, 3], [], id="out of order and repeated, but complete"),
    ],
)
def test_offset_gaps_name_what_was_not_delivered(written, offsets, expected):
    batch = [record({}, offset=o) for o in offsets]
    assert offset_gaps(batch, written) == expected


def test_offset_gaps_are_per_partition():
    batch = [record({}, offset=5, partition=0), record({}, offset=1, partition=1), record({}, offset=3, partition=1)]
    gaps = offset_gaps(batch, {("agent", 0): 4, ("agent", 1): 0})
    assert gaps == [OffsetGap("agent", 1, 2, 2)]


@given(
    mark=st.integers(-1, 50),
    delivered=st.lists(st.integers(0, 80), min_size=1, max_size=40),
)
def test_gaps_and_batch_together_cover_every_offset_once(mark, delivered):
    """Reading the gaps back and adding the batch gives each offset from the mark to the
    batch's last exactly once: nothing skipped, nothing twice."""
    batch = [record({}, offset=o) for o in delivered]
    gaps = offset_gaps(batch, {("agent", 0): mark})
    fresh = {o for o in delivered if o > mark}
    filled = [o for gap in gaps for o in range(gap.first, gap.last + 1)]
    assert len(filled) == len(set(filled))
    assert not set(filled) & fresh
    expected = set(range(mark + 1, max(fresh) + 1)) if fresh else set()
    assert set(filled) | fresh == expected
