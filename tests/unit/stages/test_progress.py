import pytest

from streams.stages.progress import last_offsets, unwritten
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
