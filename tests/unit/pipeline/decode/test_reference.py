from datetime import UTC, date, datetime
from decimal import Decimal
from typing import Any

import orjson
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from schemas.records import SourceRecord
from schemas.reference import MAX_SOFTWARE_ITEMS, DirectoryRecord, Entitlement, InventorySnapshot
from streams.pipeline.admit.pseudonymize import PseudonymKey, pseudonymize
from streams.pipeline.decode.opening import STAGE
from streams.pipeline.decode.reference import (
    DeviceRetired,
    DirectoryChange,
    InventoryItems,
    PoolChange,
    decode_directory,
    decode_entitlement,
    decode_inventory,
    key_stamp,
)
from streams.tools.importers import read_directory, read_entitlements, to_messages
from tests.unit.helpers import FIXTURES, json_values

REFERENCE = FIXTURES / "reference"
INVALID = REFERENCE / "invalid" / "messages"
KEY = PseudonymKey("k1", b"reference-test-secret")
MARK = "SECRET"


def message(value: Any, key: str | bytes | None = None, topic: str = "seatmeter.reference") -> SourceRecord:
    raw = value if isinstance(value, bytes) else orjson.dumps(value)
    encoded = key.encode() if isinstance(key, str) else key
    return SourceRecord(topic=topic, partition=0, offset=7, value=raw, key=encoded)


def snapshot(**overrides: Any) -> dict[str, Any]:
    document: dict[str, Any] = {
        "schema_version": 1,
        "snapshot_id": "agent-WS-0001-1",
        "device_id": "WS-0001",
        "taken_at": "2026-11-27T06:30:00Z",
        "source": "agent",
        "software": [{"name": "Microsoft Excel", "publisher": "Microsoft Corporation", "version": "16.0.17928.20114"}],
    }
    document.update(overrides)
    return document


def pool(**overrides: Any) -> dict[str, Any]:
    document: dict[str, Any] = {
        "schema_version": 1,
        "pool_id": "visio-plan2",
        "name": "Visio Plan 2",
        "products": ["microsoft-visio"],
        "license_model": "subscription_seat",
        "seats": 30,
        "unit_cost": "180.00",
        "currency": "USD",
    }
    document.update(overrides)
    return {key: value for key, value in document.items() if value is not None}


def person(**overrides: Any) -> dict[str, Any]:
    document: dict[str, Any] = {
        "schema_version": 1,
        "user": f"{MARK}-ana@example.com",
        "aliases": [f"CORP\\{MARK}-ana"],
        "display_name": f"{MARK} Ana",
        "department": "Finance",
        "cost_centre": "CC100",
        "manager": f"{MARK}-marta@example.com",
        "status": "active",
    }
    document.update(overrides)
    return {key: value for key, value in document.items() if value is not None}


# --- inventory -------------------------------------------------------------------------------------------------------


@pytest.mark.parametrize("path", sorted((REFERENCE / "inventory").glob("*.json")), ids=lambda p: p.stem)
def test_every_inventory_fixture_decodes_whole(path):
    document = orjson.loads(path.read_bytes())
    decoded = decode_inventory(message(path.read_bytes(), key=document["device_id"]))
    assert decoded.rejections == ()
    assert isinstance(decoded.change, InventoryItems)
    assert decoded.change.rejected_items == 0
    assert decoded.change.taken_at.tzinfo is UTC
    expected = InventorySnapshot.model_validate(document)
    assert decoded.change.software == expected.software
    assert decoded.change.device == expected.device


@pytest.mark.parametrize(
    ("fixture", "device_id", "source", "items", "cores", "sockets", "machine", "taken_at"),
    [
        pytest.param(
            "windows_workstation",
            "WS-0142",
            "sccm",
            16,
            8,
            1,
            "physical",
            datetime(2026, 11, 27, 5, 30, 12, tzinfo=UTC),
            id="windows workstation from sccm, offset normalized",
        ),
        pytest.param(
            "linux_server",
            "db01.corp.example.com",
            "osquery",
            8,
            32,
            2,
            "physical",
            datetime(2026, 11, 27, 2, 0, tzinfo=UTC),
            id="linux database server with two sockets",
        ),
    ],
)
def test_inventory_fixture_says_what_the_device_is(
    fixture, device_id, source, items, cores, sockets, machine, taken_at
):
    decoded = decode_inventory(message((REFERENCE / "inventory" / f"{fixture}.json").read_bytes()))
    change = decoded.change
    assert isinstance(change, InventoryItems)
    assert (change.device_id, change.source, len(change.software)) == (device_id, source, items)
    assert (change.device.cpu_cores, change.device.cpu_sockets, change.device.machine) == (cores, sockets, machine)
    assert change.taken_at == taken_at


@pytest.mark.parametrize(
    ("item", "expected"),
    [
        pytest.param(
            {"name": " 7-Zip 24.08 (x64) "}, {"name": "7-Zip 24.08 (x64)", "version": None}, id="name trimmed"
        ),
        pytest.param({"name": "Git", "version": ""}, {"version": None}, id="empty version is unknown"),
        pytest.param({"name": "Git", "sha256": "AB" * 32}, {"sha256": "ab" * 32}, id="sha256 lower-cased"),
        pytest.param({"name": "Git", "sha256": ""}, {"sha256": None}, id="empty sha256 is unknown"),
        pytest.param({"name": "Git", "install_date": "2026-10-09"}, {"install_date": date(2026, 10, 9)}, id="date"),
    ],
)
def test_software_items_are_normalized(item, expected):
    change = decode_inventory(message(snapshot(software=[item]))).change
    assert isinstance(change, InventoryItems)
    [software] = change.software
    assert {name: getattr(software, name) for name in expected} == expected


@pytest.mark.parametrize(
    ("device", "expected"),
    [
        pytest.param({"os": "Windows", "machine": "Virtual"}, ("windows", "virtual"), id="case folded"),
        pytest.param({"os": "", "machine": ""}, (None, None), id="empty means unknown"),
        pytest.param({}, (None, None), id="no facts at all"),
    ],
)
def test_device_facts_are_normalized(device, expected):
    change = decode_inventory(message(snapshot(device=device))).change
    assert isinstance(change, InventoryItems)
    assert (change.device.os, change.device.machine) == expected


def test_one_bad_software_item_is_refused_alone():
    items = [{"name": "Slack"}, {"name": "Zoom", "sha256": "not-a-hash"}, {"name": "Git"}]
    decoded = decode_inventory(message(snapshot(software=items)))
    assert isinstance(decoded.change, InventoryItems)
    assert [s.name for s in decoded.change.software] == ["Slack", "Git"]
    assert decoded.change.rejected_items == 1
    [rejection] = decoded.rejections
    assert (rejection.stage, rejection.item_index) == (STAGE, 1)
    assert rejection.reason.startswith("software[1]: sha256: ")
    assert orjson.loads(rejection.payload) == items[1]
    assert "not-a-hash" not in rejection.reason


def test_a_snapshot_over_the_item_limit_is_refused_whole():
    decoded = decode_inventory(message(snapshot(software=[{"name": "x"}] * (MAX_SOFTWARE_ITEMS + 1))))
    assert decoded.change is None
    [rejection] = decoded.rejections
    assert rejection.item_index is None
    assert f"at most {MAX_SOFTWARE_ITEMS} items" in rejection.reason


@pytest.mark.parametrize(
    ("key", "accepted"),
    [
        pytest.param(None, True, id="no key"),
        pytest.param("WS-0001", True, id="key is the device id"),
        pytest.param(" WS-0001 ", True, id="key with spaces around"),
        pytest.param("WS-0002", False, id="key names another device"),
        pytest.param(b"\xff\xfe", False, id="key not utf-8"),
    ],
)
def test_inventory_key_must_name_the_device(key, accepted):
    decoded = decode_inventory(message(snapshot(), key=key))
    assert (decoded.change is not None) is accepted
    if not accepted:
        assert "message key does not match device_id" in decoded.rejections[0].reason


@pytest.mark.parametrize(
    ("key", "expected"),
    [
        pytest.param("WS-0001", DeviceRetired("WS-0001"), id="tombstone retires the device"),
        pytest.param(None, None, id="tombstone without a key"),
        pytest.param(b"\xff", None, id="tombstone with a key that is not utf-8"),
    ],
)
def test_inventory_tombstone(key, expected):
    decoded = decode_inventory(message(b"", key=key))
    assert decoded.change == expected
    assert len(decoded.rejections) == (expected is None)


# --- entitlements ----------------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "entry", orjson.loads((REFERENCE / "entitlements.json").read_bytes()), ids=lambda e: e["pool_id"]
)
def test_every_fixture_pool_decodes(entry):
    decoded = decode_entitlement(message(entry, key=entry["pool_id"]))
    assert decoded.rejections == ()
    assert decoded.change == PoolChange(entry["pool_id"], Entitlement.model_validate(entry))
    assert not decoded.change.deleted


@pytest.mark.parametrize(
    ("overrides", "check"),
    [
        pytest.param({"currency": " eur "}, ("currency", "EUR"), id="currency upper-cased"),
        pytest.param({"license_model": "Named_User"}, ("license_model", "named_user"), id="license model case folded"),
        pytest.param({"unit_cost": 36}, ("unit_cost", Decimal("36")), id="integer cost"),
        pytest.param({"unit_cost": "0.000001"}, ("unit_cost", Decimal("0.000001")), id="micro cost kept exact"),
        pytest.param({"seats": 0}, ("seats", 0), id="zero seats (a pool being wound down)"),
        pytest.param({"seats": "12"}, ("seats", 12), id="seats as a string"),
        pytest.param({"products": [], "suites": ["Microsoft 365"]}, ("suites", ("Microsoft 365",)), id="suite only"),
        pytest.param(
            {"term_start": "2026-01-01", "term_end": "2026-01-01"}, ("term_end", date(2026, 1, 1)), id="one-day term"
        ),
        pytest.param({"term_start": "2019-03-15"}, ("term_end", None), id="perpetual: no term end"),
        pytest.param(
            {
                "cost_centres": [
                    {"cost_centre": c, "share": s} for c, s in [("A", "0.3333"), ("B", "0.3333"), ("C", "0.3334")]
                ]
            },
            ("cost_centres", 3),
            id="thirds that add up exactly",
        ),
        pytest.param(
            {"cost_centres": [{"cost_centre": "A", "share": 0.6}, {"cost_centre": "B", "share": 0.4}]},
            ("cost_centres", 2),
            id="float shares read exactly",
        ),
        pytest.param({"cost_centres": []}, ("cost_centres", 0), id="no allocation"),
    ],
)
def test_pool_rules_that_pass(overrides, check):
    decoded = decode_entitlement(message(pool(**overrides)))
    assert decoded.rejections == ()
    assert isinstance(decoded.change, PoolChange)
    field, expected = check
    value = getattr(decoded.change.entitlement, field)
    assert (len(value) if field == "cost_centres" else value) == expected


@pytest.mark.parametrize(
    ("overrides", "reason"),
    [
        pytest.param({"seats": -1}, "seats: Input should be greater than or equal to 0", id="negative seats"),
        pytest.param({"seats": True}, "seats: Value error, expected a number", id="boolean seats"),
        pytest.param({"seats": 2.5}, "seats: Input should be a valid integer", id="fractional seats"),
        pytest.param({"unit_cost": "-1"}, "unit_cost: Input should be greater than or equal to 0", id="negative cost"),
        pytest.param({"unit_cost": "NaN"}, "unit_cost", id="cost not a number"),
        pytest.param({"currency": "US"}, "currency: String should match pattern", id="currency too short"),
        pytest.param({"currency": "€UR"}, "currency: String should match pattern", id="currency symbol"),
        pytest.param({"license_model": "site"}, "license_model: Input should be", id="unknown license model"),
        pytest.param({"products": []}, "suites: Value error, a pool must cover", id="covers nothing"),
        pytest.param({"pool_id": "m365 e3"}, "pool_id: String should match pattern", id="pool id with a space"),
        pytest.param({"pool_id": ""}, "pool_id: String should have at least 1 character", id="empty pool id"),
        pytest.param(
            {"term_start": "2026-06-01", "term_end": "2026-05-31"}, "term_end: Value error", id="ends before it starts"
        ),
        pytest.param(
            {"term_start": "2026-06-01", "renewal_date": "2026-05-31"},
            "renewal_date: Value error",
            id="renews before it starts",
        ),
        pytest.param(
            {"cost_centres": [{"cost_centre": "A", "share": "0.5"}, {"cost_centre": "B", "share": "0.4"}]},
            "cost_centres: Value error, shares must add up to exactly 1",
            id="shares short of 1",
        ),
        pytest.param(
            {"cost_centres": [{"cost_centre": "A", "share": "0.5"}, {"cost_centre": "A", "share": "0.5"}]},
            "cost_centres: Value error, each cost centre may appear once",
            id="cost centre twice",
        ),
        pytest.param(
            {"cost_centres": [{"cost_centre": "A", "share": "0"}, {"cost_centre": "B", "share": "1"}]},
            "cost_centres.0.share: Input should be greater than 0",
            id="zero share",
        ),
        pytest.param({"schema_version": 2}, "schema_version: Input should be 1", id="future schema version"),
        pytest.param({"seat": 3}, "seat: Extra inputs are not permitted", id="misspelt field named"),
        pytest.param({f"{MARK}@example.com": 3}, "(unnamed field): Extra inputs", id="made-up key withheld"),
    ],
)
def test_pool_rules_that_fail(overrides, reason):
    decoded = decode_entitlement(message(pool(**overrides)))
    assert decoded.change is None
    [rejection] = decoded.rejections
    assert reason in rejection.reason
    assert MARK not in rejection.reason


@pytest.mark.parametrize(
    ("key", "value", "expected"),
    [
        pytest.param("m365-e3", b"", PoolChange("m365-e3", None), id="tombstone deletes the pool"),
        pytest.param(" m365-e3\n", b"", PoolChange("m365-e3", None), id="tombstone key trimmed"),
        pytest.param(None, b"", None, id="tombstone without a key"),
        pytest.param("m365-e3", b"null", None, id="json null is not a tombstone"),
        pytest.param("visio-plan2", orjson.dumps(pool()), "kept", id="key matches pool_id"),
        pytest.param("m365-e3", orjson.dumps(pool()), None, id="key names another pool"),
    ],
)
def test_pool_keys_and_tombstones(key, value, expected):
    decoded = decode_entitlement(message(value, key=key))
    if expected == "kept":
        assert isinstance(decoded.change, PoolChange)
        assert decoded.change.pool_id == "visio-plan2"
        return
    assert decoded.change == expected
    if expected is None:
        assert len(decoded.rejections) == 1
    else:
        assert decoded.change.deleted


# --- directory -------------------------------------------------------------------------------------------------------


def test_a_person_is_pseudonymized_at_the_door():
    decoded = decode_directory(message(person(aliases=[f"CORP\\{MARK}-ana", f" {MARK}-ANA@example.com "])), KEY)
    assert decoded.rejections == ()
    change = decoded.change
    assert isinstance(change, DirectoryChange)
    entry = change.entry
    assert entry is not None
    assert change.user_key == entry.user_key == pseudonymize(f"{MARK}-ana@example.com", KEY)
    assert entry.alias_keys == (pseudonymize(f"corp\\{MARK}-ana", KEY),)  # the user's own spelling is dropped
    assert entry.manager_key == pseudonymize(f"{MARK}-marta@example.com", KEY)
    assert entry.display_name is None
    assert (entry.department, entry.cost_centre, entry.status, entry.key_id) == ("Finance", "CC100", "active", "k1")
    assert MARK not in repr(decoded)


@pytest.mark.parametrize(
    ("keep", "expected"),
    [pytest.param(False, None, id="dropped by default"), pytest.param(True, f"{MARK} Ana", id="kept when allowed")],
)
def test_display_name_is_kept_only_when_allowed(keep, expected):
    for value in (
        orjson.dumps(person()),
        to_messages([DirectoryRecord.model_validate(person())], KEY, keep_display_name=True)[0][1],
    ):
        change = decode_directory(message(value), KEY, keep_display_name=keep).change
        assert change is not None
        assert change.entry is not None
        assert change.entry.display_name == expected


@pytest.mark.parametrize(
    ("overrides", "status", "leaving"),
    [
        pytest.param({"status": "leaving", "leaving_date": "2026-12-31"}, "leaving", date(2026, 12, 31), id="leaving"),
        pytest.param({"status": "left", "leaving_date": "2026-10-31"}, "left", date(2026, 10, 31), id="left"),
        pytest.param({"status": "left"}, "left", None, id="left without a date"),
        pytest.param({"status": "On_Leave"}, "on_leave", None, id="status case folded"),
        pytest.param({"status": None}, "active", None, id="status defaults to active"),
    ],
)
def test_directory_status(overrides, status, leaving):
    change = decode_directory(message(person(**overrides)), KEY).change
    assert change is not None
    assert change.entry is not None
    assert (change.entry.status, change.entry.leaving_date) == (status, leaving)


@pytest.mark.parametrize(
    ("document", "reason"),
    [
        pytest.param(
            person(status="leaving"),
            "leaving_date: Value error, required when status is leaving",
            id="leaving, no date",
        ),
        pytest.param(person(status="gone"), "status: Input should be", id="unknown status"),
        pytest.param(person(user=" "), "user: String should have at least 1 character", id="blank user"),
        pytest.param(person(aliases=[""]), "aliases.0: String should have at least 1 character", id="blank alias"),
        pytest.param(person(aliases=f"{MARK}-ana"), "aliases: Input should be a valid tuple", id="aliases not a list"),
        pytest.param(
            person(pseudonymized_with=key_stamp(KEY).model_dump()),
            "must be pseudonyms",
            id="stamped but raw identities",
        ),
        pytest.param({"user": {f"{MARK}": 1}}, "user: Input should be a valid string", id="user not a string"),
    ],
)
def test_bad_directory_records_are_refused_without_echoing_them(document, reason):
    decoded = decode_directory(message(document), KEY)
    assert decoded.change is None
    [rejection] = decoded.rejections
    assert reason in rejection.reason
    assert MARK not in rejection.reason


@pytest.mark.parametrize(
    ("other", "accepted"),
    [
        pytest.param(KEY, True, id="same key"),
        pytest.param(PseudonymKey("k1", b"another-secret"), False, id="same key id, other secret"),
        pytest.param(PseudonymKey("k2", KEY.secret), False, id="same secret, other key id"),
    ],
)
def test_pseudonyms_are_kept_only_when_made_with_this_key(other, accepted):
    [(kafka_key, value)] = to_messages([DirectoryRecord.model_validate(person())], other)
    decoded = decode_directory(message(value, key=kafka_key), KEY)
    assert (decoded.change is not None) is accepted
    if not accepted:
        assert decoded.rejections[0].reason == "pseudonymized_with: made with another key than this worker's"


@pytest.mark.parametrize(
    ("key", "accepted"),
    [
        pytest.param(None, True, id="no key"),
        pytest.param(pseudonymize(f"{MARK}-ana@example.com", KEY), True, id="key is the user's pseudonym"),
        pytest.param(f"{MARK}-ANA@example.com", True, id="key is the raw user, any case"),
        pytest.param(f"CORP\\{MARK}-ana", False, id="key is an alias"),
        pytest.param(pseudonymize("someone-else", KEY), False, id="key is someone else's pseudonym"),
    ],
)
def test_directory_key_must_identify_the_user(key, accepted):
    decoded = decode_directory(message(person(), key=key), KEY)
    assert (decoded.change is not None) is accepted
    if not accepted:
        assert decoded.rejections[0].reason == "the message key does not identify the record's user"


@pytest.mark.parametrize(
    ("key", "user_key"),
    [
        pytest.param("0123456789abcdef0123456789abcdef", "0123456789abcdef0123456789abcdef", id="pseudonym key"),
        pytest.param(f"{MARK}-Ana@example.com", pseudonymize(f"{MARK}-ana@example.com", KEY), id="raw key"),
        pytest.param(None, None, id="no key"),
    ],
)
def test_directory_tombstone_erases_the_person(key, user_key):
    decoded = decode_directory(message(b"", key=key), KEY)
    if user_key is None:
        assert decoded.change is None
        assert "tombstone" in decoded.rejections[0].reason
        return
    assert decoded.change == DirectoryChange(user_key, None)
    assert decoded.change.erased
    assert MARK not in repr(decoded.change)


@pytest.mark.parametrize("path", [REFERENCE / "directory.csv", REFERENCE / "directory.yaml"], ids=lambda p: p.suffix)
def test_raw_and_importer_pseudonymized_people_decode_the_same(path):
    people = read_directory(path)
    raw = [decode_directory(message(v, key=k), KEY) for k, v in to_messages(people, KEY, send_raw_identities=True)]
    sealed = [decode_directory(message(v, key=k), KEY) for k, v in to_messages(people, KEY)]
    assert raw == sealed
    assert all(d.rejections == () and d.change is not None for d in raw)


def test_no_raw_identity_leaves_the_directory_decoder():
    people = read_directory(REFERENCE / "directory.csv")
    secrets = {p.user for p in people} | {a for p in people for a in p.aliases} | {p.display_name for p in people}
    secrets |= {p.user.split("@")[0] for p in people} | {a.split("\\")[-1] for p in people for a in p.aliases}
    outputs = [decode_directory(message(p.model_dump_json().encode()), KEY) for p in people]
    text = "".join(repr(o) for o in outputs)
    assert {s for s in secrets if s and s in text} == set()
    managers = {
        o.change.entry.manager_key for o in outputs if o.change and o.change.entry and o.change.entry.manager_key
    }
    assert managers <= {o.change.user_key for o in outputs if o.change}  # the hierarchy still joins


# --- invalid fixtures ------------------------------------------------------------------------------------------------

DECODERS = {
    "inventory": decode_inventory,
    "entitlement": decode_entitlement,
    "directory": lambda record: decode_directory(record, KEY),
}


@pytest.mark.parametrize("path", sorted(INVALID.glob("*.json")), ids=lambda p: p.stem)
def test_invalid_fixture_is_rejected_with_its_reason(path):
    decoder = DECODERS[path.stem.split("_", 1)[0]]
    decoded = decoder(message(path.read_bytes()))
    assert decoded.change is None
    [rejection] = decoded.rejections
    assert rejection.stage == STAGE
    assert rejection.item_index is None
    assert path.with_suffix(".reason").read_text().strip() in rejection.reason
    assert "chen" not in rejection.reason
    assert "example.com" not in rejection.reason


def test_every_invalid_fixture_has_a_reason():
    assert {p.stem for p in INVALID.glob("*.json")} == {p.stem for p in INVALID.glob("*.reason")}


@pytest.mark.parametrize(
    ("payload", "reason"),
    [
        pytest.param(b"[]", "expected a JSON object", id="array"),
        pytest.param(b'"pool"', "expected a JSON object", id="string"),
        pytest.param(b"{", "not valid JSON", id="truncated"),
        pytest.param(b" ", "not valid JSON", id="whitespace is not a tombstone"),
    ],
)
def test_bad_messages_are_rejected_whole_by_every_decoder(payload, reason):
    for decoder in DECODERS.values():
        decoded = decoder(message(payload, key="k"))
        assert decoded.change is None
        assert reason in decoded.rejections[0].reason


# --- never raises ----------------------------------------------------------------------------------------------------

FIELDS = sorted(
    {*snapshot(), *pool(), *person(), "device", "suites", "cost_centres", "term_start", "term_end", "leaving_date"}
    | {"pseudonymized_with", "renewal_date"}
)
keys = st.none() | st.binary(max_size=40) | st.sampled_from([b"WS-0001", b"visio-plan2", b"0" * 32])


def assert_accounted(decoded) -> None:
    assert decoded.change is not None or decoded.rejections
    assert all(r.reason and r.stage == STAGE for r in decoded.rejections)


@settings(max_examples=300, deadline=None)
@given(st.binary(max_size=2048), keys)
def test_arbitrary_bytes_never_raise(raw, key):
    for decoder in DECODERS.values():
        assert_accounted(decoder(message(raw, key=key)))


@settings(max_examples=300, deadline=None)
@given(st.dictionaries(st.sampled_from(FIELDS), json_values, max_size=12), keys)
def test_arbitrary_json_objects_end_as_changes_or_rejections(document, key):
    for decoder in DECODERS.values():
        assert_accounted(decoder(message(document, key=key)))


@settings(max_examples=200, deadline=None)
@given(st.lists(json_values, max_size=6))
def test_arbitrary_software_items_are_each_kept_or_refused(items):
    decoded = decode_inventory(message(snapshot(software=items)))
    assert isinstance(decoded.change, InventoryItems)
    assert len(decoded.change.software) + decoded.change.rejected_items == len(items)
    assert len(decoded.rejections) == decoded.change.rejected_items


identities = st.text(alphabet=st.characters(codec="utf-8", exclude_categories=("Cs", "Cc")), min_size=1, max_size=30)


@settings(max_examples=200, deadline=None)
@given(identities, st.lists(identities, max_size=3), identities, st.booleans())
def test_no_identity_survives_decoding(user, aliases, manager, keep):
    document = person(user=f"{MARK}{user}", aliases=[f"{MARK}{a}" for a in aliases], manager=f"{MARK}{manager}")
    decoded = decode_directory(message(document), KEY, keep_display_name=keep)
    assert decoded.change is not None
    assert MARK not in repr(decoded.change.user_key) + repr(decoded.change.entry.alias_keys)
    assert MARK not in repr(decoded.change.entry.manager_key)
    expected_display = f"{MARK} Ana" if keep else None
    assert decoded.change.entry.display_name == expected_display


def test_entitlement_values_from_every_format_decode_alike():
    formats = [read_entitlements(REFERENCE / f"entitlements.{suffix}") for suffix in ("json", "csv", "yaml")]
    decoded = [[decode_entitlement(message(v, key=k)).change for k, v in to_messages(pools)] for pools in formats]
    assert decoded[0] == decoded[1] == decoded[2]
    assert [c.pool_id for c in decoded[0] if c] == [
        "m365-e3",
        "adobe-cc-all-apps",
        "autocad-network",
        "oracle-db-ee",
        "tableau-creator",
    ]
