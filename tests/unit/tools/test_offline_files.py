"""How exported files become messages for ``seatmeter replay``."""

from __future__ import annotations

import gzip

import orjson

from streams.tools.offline import file_messages, read_export, replay_records, replay_topic

EVENTS = [{"event_id": "a", "n": 1}, {"event_id": "b", "n": 2}]
LINES = b"".join(orjson.dumps(e) + b"\r\n" for e in EVENTS)


def test_json_lines_with_windows_line_ends_and_blank_lines():
    assert file_messages(LINES + b"\r\n\r\n", "agent") == [orjson.dumps(e) for e in EVENTS]


def test_a_json_array_gives_one_message_per_element():
    assert file_messages(orjson.dumps(EVENTS), "agent") == [orjson.dumps(e) for e in EVENTS]


def test_entra_records_are_wrapped_like_an_event_hubs_body():
    messages = file_messages(orjson.dumps(EVENTS), "entra")
    assert [orjson.loads(m) for m in messages] == [{"records": [e]} for e in EVENTS]


def test_a_byte_order_mark_is_not_part_of_the_first_message():
    assert file_messages(read_export(b"\xef\xbb\xbf" + LINES), "agent") == file_messages(LINES, "agent")


def test_gzip_files_replay_as_the_same_content():
    packed = read_export(gzip.compress(LINES))
    assert packed == LINES
    assert replay_topic("agent", [packed]) == replay_topic("agent", [LINES])


def test_records_number_the_messages_of_all_files_in_order():
    records = replay_records("agent", [LINES, orjson.dumps(EVENTS[:1])])
    assert [r.offset for r in records] == [0, 1, 2]
    assert {r.topic for r in records} == {replay_topic("agent", [LINES, orjson.dumps(EVENTS[:1])])}
