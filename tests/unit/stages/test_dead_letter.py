from datetime import UTC, datetime

import pytest

from schemas.records import Rejection, SourceRecord
from streams.stages.dead_letter import (
    REASON,
    NotADeadLetterError,
    dead_letter_headers,
    read_dead_letter,
    to_dead_letter,
)

NOW = datetime(2026, 11, 29, 12, 0, tzinfo=UTC)


def rejection(index=None):
    source = SourceRecord("agent", 2, 41, b"{bad", headers=(("traceparent", b"00-abc"),))
    return Rejection(source, "decode", "not valid JSON", b"{bad", item_index=index)


@pytest.mark.parametrize("index", [None, 3], ids=["whole message", "envelope item"])
def test_dead_letter_survives_the_round_trip_through_headers(index):
    letter = to_dead_letter(rejection(index), NOW)
    again = read_dead_letter(letter.payload, dead_letter_headers(letter))
    assert again == letter
    assert again.item_index == (-1 if index is None else 3)
    assert again.headers == {"traceparent": "00-abc"}


def test_headers_name_origin_stage_and_reason():
    headers = dict(dead_letter_headers(to_dead_letter(rejection(), NOW)))
    assert headers["seatmeter.original_topic"] == b"agent"
    assert headers["seatmeter.original_partition"] == b"2"
    assert headers["seatmeter.original_offset"] == b"41"
    assert headers["seatmeter.stage"] == b"decode"
    assert headers[REASON] == b"not valid JSON"


def test_message_without_our_headers_is_refused():
    with pytest.raises(NotADeadLetterError):
        read_dead_letter(b"x", [("seatmeter.stage", b"decode")])
