import hashlib
from datetime import UTC, datetime

import pytest

from schemas.records import Rejection, SourceRecord
from streams.pipeline.admit.pseudonymize import PseudonymKey
from streams.pipeline.dead_letters.letters import (
    ORIGINAL_BYTES,
    REASON,
    SEALED,
    NotADeadLetterError,
    dead_letter_headers,
    read_dead_letter,
    to_dead_letter,
    wire_size,
)
from streams.pipeline.dead_letters.seal import Sealer, UnsealError

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


@pytest.mark.parametrize(
    ("header", "value"),
    [
        pytest.param("seatmeter.dead_lettered_at", b"0001-01-01T00:00:00+14:00", id="year 1 east of UTC"),
        pytest.param("seatmeter.dead_lettered_at", b"2026-11-29T12:00:00", id="a time without offset"),
        pytest.param("seatmeter.item_index", str(2**40).encode(), id="item index past Int32"),
        pytest.param("seatmeter.original_partition", b"-3", id="negative partition"),
        pytest.param("seatmeter.original_offset", str(2**64).encode(), id="offset past UInt64"),
    ],
)
def test_a_letter_whose_headers_no_column_can_hold_is_refused_not_raised(header, value):
    headers = dict(dead_letter_headers(to_dead_letter(rejection(), NOW, SEALER)))
    headers[header] = value
    with pytest.raises(NotADeadLetterError):
        read_dead_letter(b"x", headers.items())


def oversized(size, headers=(("traceparent", b"00-abc"),)):
    raw = bytes(range(256)) * (size // 256)
    return Rejection(SourceRecord("agent", 2, 41, raw, headers=headers), "decode", "not valid JSON", raw)


@pytest.mark.parametrize(
    ("size", "sealer", "limit", "headers"),
    [
        pytest.param(900_000, SEALER, 1 << 20, (), id="900 KB sealed grows past 1 MiB"),
        pytest.param(5_000_000, SEALER, 1 << 20, (), id="5 MB decompressed from gzip"),
        pytest.param(2_000_000, None, 1 << 20, (), id="raw storage, 2 MB"),
        pytest.param(100_000, SEALER, 64 << 10, (), id="a smaller producer limit"),
        pytest.param(900_000, SEALER, 1 << 20, (("junk", b"x" * 700_000),), id="huge original headers dropped"),
    ],
)
def test_an_oversized_original_is_cut_to_fit_with_its_size_and_digest(size, sealer, limit, headers):
    rejected = oversized(size, headers)
    letter = to_dead_letter(rejected, NOW, sealer, limit)
    assert wire_size(letter) <= limit
    digest = hashlib.sha256(rejected.payload).hexdigest()
    assert (letter.original_bytes, letter.original_sha256) == (len(rejected.payload), digest)
    assert letter.reason.startswith("not valid JSON [payload cut to its first ")
    assert digest in letter.reason
    kept = letter.payload if sealer is None else sealer.unseal(letter.payload)
    assert len(kept) > limit // 3
    assert rejected.payload.startswith(kept)
    assert read_dead_letter(letter.payload, dead_letter_headers(letter)) == letter


def test_a_letter_that_fits_is_kept_whole():
    letter = to_dead_letter(oversized(600_000), NOW, SEALER)
    assert letter.original_bytes is None
    assert wire_size(letter) <= 1 << 20
    assert ORIGINAL_BYTES not in dict(dead_letter_headers(letter))


@pytest.mark.parametrize("plain", [0, 1, 15, 16, 17, 1000, 750_000])
def test_sealed_size_is_exact(plain):
    assert Sealer.sealed_size(plain) == len(SEALER.seal(b"x" * plain))
    assert Sealer.sealed_size(Sealer.plaintext_room(Sealer.sealed_size(plain))) <= Sealer.sealed_size(plain)
