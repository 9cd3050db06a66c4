import pytest

from streams.pipeline.admit.guard import InvalidRatioLimit, InvalidRatioWindows, check_invalid_ratio

P0 = ("agent", 0)
P1 = ("agent", 1)
LIMIT = InvalidRatioLimit(max_ratio=0.5, window_messages=10)


@pytest.mark.parametrize(
    ("batches", "stops"),
    [
        pytest.param([({P0: 10}, {P0: 5})], False, id="half invalid is allowed"),
        pytest.param([({P0: 10}, {P0: 6})], True, id="over half invalid stops"),
        pytest.param([({P0: 6}, {P0: 6})], False, id="window not full yet"),
        pytest.param([({P0: 6}, {P0: 6}), ({P0: 4}, {})], True, id="window fills across batches"),
        pytest.param([({P0: 10}, {P0: 1}), ({P0: 10}, {P0: 6})], True, id="a later window can trip"),
        pytest.param([({P0: 5, P1: 10}, {P0: 5, P1: 0})], False, id="partitions judged apart"),
    ],
)
def test_invalid_ratio_cap(batches, stops):
    windows = InvalidRatioWindows()
    results = [check_invalid_ratio(windows, messages, invalid, LIMIT) for messages, invalid in batches]
    assert (results[-1] is not None) is stops


def test_the_stop_message_says_what_to_do():
    message = check_invalid_ratio(InvalidRatioWindows(), {P0: 10}, {P0: 9}, LIMIT)
    assert "agent[0]" in message and "SEATMETER_INGEST__INVALID_RATIO_MAX" in message
