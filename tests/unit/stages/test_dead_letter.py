from datetime import UTC, datetime

import pytest

from schemas.records import Rejection, SourceRecord
from streams.stages.dead_letter import (
    REASON,
    SEALED,
    NotADeadLetterError,
    dead_letter_headers,
    read_dead_letter,
    to_dead_letter,
)
from streams.stages.pseudonymize import PseudonymKey
from streams.stages.seal import Sealer, UnsealError

NOW = datetime(2026, 11, 29, 12, 0, tzinfo=UTC)
SEALER = Sealer(PseudonymKey("k7", b"a secret"))
RAW = b'{"user": "CORP\\\\Rare.Name", "kind": "?"}'


def rejection(index=None):
    source = SourceRecord("agent", 2, 41, RAW, headers=(("traceparent", b"00-abc"),))
    return Rejection(source, "decode", "kind: Input should be 'start', 'sample' or 'stop'", RAW, item_index=index)


@pytest.mark.parametrize("sealer", [SEALER, None], ids=["sealed", "raw storage opted in"])
@pytest.mark.parametrize("index", [None, 3], ids=["whole message", "envelope item"])
def test_dead_letter_survives_the_round_trip_through_headers(index, sealer):
    letter = to_dead_letter(rejection(index), NOW, sealer)
    again = read_dead_letter(letter.payload, dead_letter_headers(letter))
    assert again == letter
    assert again.item_index == (-1 if index is None else 3)
    assert again.headers == {"traceparent": "00-abc"}


def test_sealed_payload_hides_identities_and_opens_with_the_key():
    letter = to_dead_letter(rejection(), NOW, SEALER)
    assert b"Rare.Name" not in letter.payload
    assert letter.sealed == "fernet-v1:k7"
    assert SEALER.unseal(letter.payload) == RAW


def test_payload_sealed_under_another_key_does_not_open():
    letter = to_dead_letter(rejection(), NOW, Sealer(PseudonymKey("k8", b"another secret")))
    with pytest.raises(UnsealError):
        SEALER.unseal(letter.payload)


def test_headers_name_origin_stage_reason_and_seal():
    headers = dict(dead_letter_headers(to_dead_letter(rejection(), NOW, SEALER)))
    assert headers["seatmeter.original_topic"] == b"agent"
    assert headers["seatmeter.original_partition"] == b"2"
    assert headers["seatmeter.original_offset"] == b"41"
    assert headers["seatmeter.stage"] == b"decode"
    assert headers[REASON].startswith(b"kind:")
    assert headers[SEALED] == b"fernet-v1:k7"


def test_message_without_our_headers_is_refused():
    with pytest.raises(NotADeadLetterError):
        read_dead_letter(b"x", [("seatmeter.stage", b"decode")])
