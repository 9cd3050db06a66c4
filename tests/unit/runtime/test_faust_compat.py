"""The offset a worker commits, from acknowledged offsets and offsets Faust will never deliver."""

from __future__ import annotations

import asyncio
from pathlib import Path

import faust
import pytest
from faust.types import TP
from hypothesis import given
from hypothesis import strategies as st

from streams.runtime.faust_compat import CommitTrackingConsumer, commit_tracker, next_commit, track_commits


def test_the_first_run_of_done_offsets_is_committed():
    step = next_commit([10, 11, 12, 14, 15], [], committed=10)
    assert (step.offset, step.left) == (13, [14, 15])


def test_gap_ranges_that_repeat_acknowledged_offsets_count_once():
    """Faust's own gap ends at the offset it then delivers and acknowledges: the duplicate
    used to end the run there, one commit interval per duplicate."""
    acked = [*range(100, 140), 141, 143]
    step = next_commit(acked, [(130, 142), (139, 144)], committed=100)
    assert step.offset == 144
    assert step.left == []


def test_gaps_beyond_the_highest_acknowledged_offset_wait():
    step = next_commit([5, 6], [(20, 30)], committed=5)
    assert step.offset == 7


def test_a_gap_of_millions_of_offsets_is_one_stretch():
    step = next_commit([12_000_000, 12_000_001], [(1, 12_000_000)], committed=0)
    assert step.offset == 12_000_002


def test_nothing_is_committed_while_offsets_after_the_committed_one_are_missing():
    step = next_commit([40, 41], [], committed=30)
    assert step.offset is None
    assert step.left == [40, 41]


@given(st.sets(st.integers(0, 300), min_size=1), st.lists(st.tuples(st.integers(0, 300), st.integers(1, 40))))
def test_the_commit_is_the_end_of_the_done_offsets_from_the_first(acked, gap_specs):
    gaps = [(begin, begin + length) for begin, length in gap_specs]
    step = next_commit(sorted(acked) * 2, gaps, committed=None)
    top = max(acked)
    done = set(acked).union(*(range(b, e) for b, e in gaps if b <= top))
    first = min(done)
    expected = first
    while expected in done:
        expected += 1
    assert step.offset == expected
    assert step.left == sorted(o for o in acked if o > expected)


def test_offsets_the_warehouse_holds_are_done_without_being_acknowledged():
    step = next_commit([], [], committed=10, written_through=579)
    assert step.offset == 580
    step = next_commit([1038, 1039], [], committed=10, written_through=1037)
    assert (step.offset, step.left) == (1040, [])


def test_a_written_mark_behind_the_committed_offset_changes_nothing():
    step = next_commit([1000, 1001], [], committed=1000, written_through=500)
    assert step.offset == 1002


def test_before_any_commit_the_written_mark_counts_from_the_first_offset():
    step = next_commit([0, 1, 2], [], committed=None, written_through=99)
    assert step.offset == 100


@pytest.fixture
def consumer():
    """A worker app's consumer, never started: its commit bookkeeping needs no broker."""
    app = faust.App("commit-test", broker="kafka://127.0.0.1:1", web_enabled=False)
    track_commits(app)
    consumer = commit_tracker(app)
    assert isinstance(consumer, CommitTrackingConsumer)
    return consumer


def assign(consumer, *tps):
    consumer.assignment = lambda: set(tps)


def test_the_consumer_commits_past_duplicates_in_one_step(consumer):
    """A gap recorded over acknowledged offsets (as Faust's own gaps are, at their end)."""
    tp = TP("usage", 0)
    consumer._committed_offset[tp] = 1000  # noqa: SLF001 - the bookkeeping under test
    for offset in range(1000, 1200):
        consumer._acked[tp].append(offset)  # noqa: SLF001
        consumer._acked_index[tp].add(offset)  # noqa: SLF001
    asyncio.run(consumer._add_gap(tp, 1100, 1150))  # noqa: SLF001
    assert consumer._new_offset(tp) == 1200  # noqa: SLF001
    assert consumer._new_offset(tp) is None, "everything done was taken"  # noqa: SLF001


def test_a_partition_with_nothing_more_to_deliver_commits_what_the_warehouse_holds(consumer):
    """After the local state is lost, Faust delivered offsets 0 to 9 of a partition and nothing
    after: the rest was written by earlier runs, and commits must not stay at 10 for ever."""
    tp = TP("usage", 1)
    assign(consumer, tp)
    consumer._committed_offset[tp] = 10  # noqa: SLF001
    assert consumer._new_offset(tp) is None  # noqa: SLF001
    consumer.mark_written({("usage", 1): 1245, ("usage", 2): 900})
    assert consumer._new_offset(tp) == 1246  # noqa: SLF001
    assert TP("usage", 2) not in consumer._acked, "not assigned here: another worker commits it"  # noqa: SLF001


def test_the_written_mark_joins_acknowledged_offsets_past_it(consumer):
    tp = TP("usage", 2)
    assign(consumer, tp)
    consumer._committed_offset[tp] = 170  # noqa: SLF001
    consumer._acked[tp].extend(range(1038, 1078))  # noqa: SLF001
    assert consumer._new_offset(tp) is None, "offsets 171 to 1037 were never delivered"  # noqa: SLF001
    consumer.mark_written({("usage", 2): 1037})
    assert consumer._new_offset(tp) == 1078  # noqa: SLF001


def test_the_internals_used_are_those_of_the_pinned_faust_release():
    """A faust-streaming upgrade must be read against this module first: the private names it
    relies on are checked here, and the version they were read from is pinned."""
    from importlib.metadata import version

    import faust.streams
    from faust.transport import consumer as faust_consumer

    from streams.runtime.faust_compat import FAUST_VERSION

    assert version("faust-streaming") == FAUST_VERSION
    assert hasattr(faust.streams, "_current_event")
    source = Path(faust_consumer.__file__).read_text(encoding="utf-8")
    for name in ("_committed_offset", "_acked", "_acked_index", "_gap"):
        assert f"self.{name} = " in source or f"self.{name}: " in source, name
    assert "def _new_offset(self, tp: TP)" in source
