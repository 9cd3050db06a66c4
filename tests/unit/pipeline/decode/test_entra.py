from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import orjson
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from schemas.usage import SaasAppRef, UsageEvent, UsageKind, UsageSource
from streams.pipeline.decode.entra import decode_entra
from streams.pipeline.decode.opening import STAGE
from tests.unit.helpers import FIXTURES, json_values, record

ENTRA = FIXTURES / "entra"
MARK = "SECRET"


def fixtures(folder: Path) -> list[Path]:
    return sorted(folder.glob("*.json"))


def sign_in(category: str = "SignInLogs", properties: dict[str, Any] | None = None, **overrides: Any) -> dict[str, Any]:
    record_: dict[str, Any] = {
        "time": "2026-11-27T08:31:12.4470528Z",
        "operationName": "Sign-in activity",
        "category": category,
        "tenantId": "11111111-2222-3333-4444-555555555555",
        "resultType": "0",
        "callerIpAddress": f"{MARK}-ip",
        "identity": MARK,
        "Level": 4,
        "properties": {
            "id": "0231f922-93fa-4005-bb11-b344eca03c01",
            "createdDateTime": "2026-11-27T08:31:12.4470528+00:00",
            "userDisplayName": MARK,
            "userPrincipalName": f"{MARK}.upn@example.com",
            "appId": "1fec8e78-bce4-4aaf-ab1b-5451cc387264",
            "appDisplayName": "Microsoft Teams",
            "status": {"errorCode": 0},
            "deviceDetail": {"deviceId": "8bfcb982-6856-4402-924c-ada2486321cc", "displayName": MARK},
            **(properties or {}),
        },
    }
    record_.update(overrides)
    return record_


def body(*records: Any) -> dict[str, Any]:
    return {"records": list(records)}


def decode(value: Any, source_instance: str = "entra"):
    return decode_entra(record(value, topic="seatmeter-entra-signins"), source_instance=source_instance)


@pytest.mark.parametrize("path", fixtures(ENTRA), ids=lambda p: p.stem)
def test_every_valid_fixture_decodes_without_rejections(path):
    decoded = decode(path.read_bytes())
    assert decoded.rejections == []
    for event in decoded.events:
        assert event.source is UsageSource.ENTRA
        assert event.kind is UsageKind.SIGNIN
        assert event.event_time.tzinfo is UTC
        assert event.event_id.startswith("entra:")


@pytest.mark.parametrize(
    ("fixture", "expected"),
    [
        pytest.param(
            "eventhubs_sign_ins",
            [
                (
                    "entra:0231f922-93fa-4005-bb11-b344eca03c01",
                    "ana.silva@example.com",
                    "Microsoft Teams",
                    "8bfcb982-6856-4402-924c-ada2486321cc",
                ),
                (
                    "entra:5c9d7e1a-2b3c-4d5e-8f90-a1b2c3d4e5f6",
                    "ana.silva@example.com",
                    "Microsoft Office",
                    "8bfcb982-6856-4402-924c-ada2486321cc",
                ),
                ("entra:b1c2d3e4-f5a6-4b7c-8d9e-0f1a2b3c4d5e", "chen.wei@example.com", "Salesforce", None),
            ],
            id="interactive and non-interactive successes; failure and service principal skipped; no device id",
        ),
        pytest.param("kmsi_interrupt", [], id="keep-me-signed-in interrupt is not a sign-in"),
        pytest.param("other_categories", [], id="audit and managed identity records are skipped"),
    ],
)
def test_fixture_yields_exactly_these_sign_ins(fixture, expected):
    decoded = decode((ENTRA / f"{fixture}.json").read_bytes())
    assert [(e.event_id, e.user, e.saas_app.name, e.device_id) for e in decoded.events] == expected


def test_an_interactive_success_maps_to_one_sign_in():
    decoded = decode((ENTRA / "eventhubs_sign_ins.json").read_bytes(), source_instance="entra-contoso")
    assert decoded.events[0] == UsageEvent(
        event_id="entra:0231f922-93fa-4005-bb11-b344eca03c01",
        source=UsageSource.ENTRA,
        source_instance="entra-contoso",
        event_time=datetime(2026, 11, 27, 8, 31, 12, 447052, tzinfo=UTC),
        user="ana.silva@example.com",
        kind=UsageKind.SIGNIN,
        saas_app=SaasAppRef(name="Microsoft Teams", url=None, app_id="1fec8e78-bce4-4aaf-ab1b-5451cc387264"),
        device_id="8bfcb982-6856-4402-924c-ada2486321cc",
        interval_seconds=0.0,
        active_seconds=None,
    )


@pytest.mark.parametrize(
    ("created", "time", "expected_utc"),
    [
        pytest.param(
            "2026-11-27T08:31:12.4470528+00:00",
            "2026-11-27T08:31:13Z",
            datetime(2026, 11, 27, 8, 31, 12, 447052, tzinfo=UTC),
            id="seven fractional digits, created wins",
        ),
        pytest.param("2026-11-27T09:31:12+01:00", None, datetime(2026, 11, 27, 8, 31, 12, tzinfo=UTC), id="offset"),
        pytest.param("2026-11-27T03:31:12-05:00", None, datetime(2026, 11, 27, 8, 31, 12, tzinfo=UTC), id="negative"),
        pytest.param(None, "2026-11-27T08:31:12.5Z", datetime(2026, 11, 27, 8, 31, 12, 500000, tzinfo=UTC), id="time"),
    ],
)
def test_event_time_is_created_date_time_else_time_in_utc(created, time, expected_utc):
    item = sign_in(properties={"createdDateTime": created}, time=time)
    [event] = decode(body(item)).events
    assert event.event_time == expected_utc
    assert event.event_time.tzinfo is UTC


@pytest.mark.parametrize(
    ("item", "counts"),
    [
        pytest.param(sign_in(), True, id="interactive success"),
        pytest.param(sign_in("NonInteractiveUserSignInLogs"), True, id="non-interactive success"),
        pytest.param(sign_in("ServicePrincipalSignInLogs"), False, id="service principal"),
        pytest.param(sign_in("ManagedIdentitySignInLogs"), False, id="managed identity"),
        pytest.param(sign_in("ADFSSignInLogs"), False, id="adfs"),
        pytest.param(sign_in("AuditLogs"), False, id="audit log"),
        pytest.param(sign_in("signinlogs"), False, id="category is case sensitive"),
        pytest.param(
            sign_in(resultType="50126", properties={"status": {"errorCode": 50126}}), False, id="bad password"
        ),
        pytest.param(
            sign_in(resultType="50074", properties={"status": {"errorCode": 50074}}), False, id="mfa required"
        ),
        pytest.param(
            sign_in(resultType="50140", properties={"status": {"errorCode": 50140}}), False, id="kmsi interrupt"
        ),
        pytest.param(sign_in(resultType="0", properties={"status": None}), True, id="result type alone"),
        pytest.param(sign_in(resultType=None), True, id="error code alone"),
        pytest.param(sign_in(resultType=0), True, id="result type as a number"),
        pytest.param(sign_in(resultType=None, properties={"status": {"errorCode": "0"}}), True, id="error code text"),
        pytest.param(sign_in(resultType=None, properties={"status": None}), False, id="no result at all"),
        pytest.param(sign_in(resultType="0", properties={"status": {"errorCode": 53003}}), False, id="disagreement"),
        pytest.param(sign_in(resultType="", properties={"status": None}), False, id="empty result type"),
    ],
)
def test_only_successful_user_sign_ins_count(item, counts):
    decoded = decode(body(item))
    assert decoded.rejections == []
    assert len(decoded.events) == (1 if counts else 0)


@pytest.mark.parametrize(
    ("device_detail", "expected"),
    [
        pytest.param({"deviceId": "8bfc"}, "8bfc", id="registered device"),
        pytest.param({"deviceId": ""}, None, id="empty device id"),
        pytest.param({"operatingSystem": "Android"}, None, id="no device id"),
        pytest.param(None, None, id="no device detail"),
    ],
)
def test_device_id_is_entras_device_id_or_none(device_detail, expected):
    [event] = decode(body(sign_in(properties={"deviceDetail": device_detail}))).events
    assert event.device_id == expected


def test_app_id_is_optional():
    [event] = decode(body(sign_in(properties={"appId": None}))).events
    assert event.saas_app == SaasAppRef(name="Microsoft Teams", app_id=None)


def test_unknown_fields_are_tolerated():
    item = sign_in(newAzureField=[1], properties={"agent": {"agentType": "notAgentic"}, "riskEventTypes_v2": []})
    assert len(decode(body(item)).events) == 1


def test_an_empty_records_list_is_nothing_to_do():
    decoded = decode(body())
    assert decoded.events == []
    assert decoded.rejections == []


@pytest.mark.parametrize(
    ("value", "reason_part"),
    [
        pytest.param(b"", "not valid JSON", id="empty message"),
        pytest.param(b'{"records": [', "not valid JSON", id="truncated json"),
        pytest.param([sign_in()], "expected a JSON object with a 'records' list", id="bare array"),
        pytest.param("records", "expected a JSON object", id="string"),
        pytest.param({"value": [sign_in()]}, "records: Field required", id="no records"),
        pytest.param({"records": sign_in()}, "records: Input should be a valid list", id="records not a list"),
        pytest.param({"records": None}, "records", id="records null"),
    ],
)
def test_a_bad_envelope_is_one_rejection_for_the_whole_message(value, reason_part):
    decoded = decode(value)
    assert decoded.events == []
    [rejection] = decoded.rejections
    assert rejection.stage == STAGE
    assert rejection.item_index is None
    assert reason_part in rejection.reason


@pytest.mark.parametrize(
    ("item", "reason_part"),
    [
        pytest.param(42, "expected a record object", id="number"),
        pytest.param({"properties": {"userPrincipalName": MARK}}, "string category", id="no category"),
        pytest.param(sign_in(category=None), "string category", id="category null"),
        pytest.param(sign_in(properties={"id": None}), "properties.id", id="no sign-in id"),
        pytest.param(sign_in(properties={"id": ""}), "properties.id", id="empty sign-in id"),
        pytest.param(
            {k: v for k, v in sign_in().items() if k != "properties"}, "properties: Field required", id="no properties"
        ),
        pytest.param(sign_in(properties={"userPrincipalName": None}), "properties.userPrincipalName", id="no upn"),
        pytest.param(sign_in(properties={"userPrincipalName": ""}), "properties.userPrincipalName", id="empty upn"),
        pytest.param(sign_in(properties={"appDisplayName": None}), "properties.appDisplayName", id="no app name"),
        pytest.param(sign_in(time=None, properties={"createdDateTime": None}), "createdDateTime", id="no time at all"),
        pytest.param(
            sign_in(properties={"createdDateTime": "2026-11-27T08:31:12"}), "createdDateTime", id="naive time"
        ),
        pytest.param(sign_in(properties={"createdDateTime": MARK}), "createdDateTime", id="not a time"),
        pytest.param(sign_in(time="2026-11-27T08:31:12"), "time", id="naive record time"),
        pytest.param(sign_in(resultType=False), "resultType", id="boolean result type"),
        pytest.param(sign_in(properties={"status": {"errorCode": True}}), "errorCode", id="boolean error code"),
        pytest.param(sign_in(properties={"deviceDetail": {"deviceId": 7}}), "deviceId", id="device id not text"),
    ],
)
def test_a_bad_record_is_rejected_alone_with_a_reason_that_names_no_value(item, reason_part):
    good = sign_in(properties={"id": "good-one"})
    decoded = decode(body(good, item))
    assert [e.event_id for e in decoded.events] == ["entra:good-one"]
    [rejection] = decoded.rejections
    assert rejection.stage == STAGE
    assert rejection.item_index == 1
    assert rejection.reason.startswith("records[1]: ")
    assert reason_part in rejection.reason
    assert MARK not in rejection.reason
    assert "example.com" not in rejection.reason
    assert rejection.payload == orjson.dumps(item)


@pytest.mark.parametrize(
    ("fixture", "reason_parts", "indexes", "event_ids"),
    [
        pytest.param("truncated", ["not valid JSON"], [None], [], id="truncated"),
        pytest.param("records_missing", ["records: Field required"], [None], [], id="records missing"),
        pytest.param("records_not_a_list", ["records: Input should be a valid list"], [None], [], id="records object"),
        pytest.param("top_level_array", ["expected a JSON object"], [None], [], id="top level array"),
        pytest.param(
            "bad_records",
            [
                "records[1]: expected a record object",
                "records[2]: properties.id: Field required",
                "records[3]: properties.userPrincipalName",
                "records[4]: time: Input should have timezone info",
                "records[5]: expected a record object with a string category",
            ],
            [1, 2, 3, 4, 5],
            ["entra:a0000000-0000-4000-8000-000000000000", "entra:a0000000-0000-4000-8000-000000000006"],
            id="bad records cost only themselves",
        ),
    ],
)
def test_invalid_fixture_is_rejected_where_it_is_bad(fixture, reason_parts, indexes, event_ids):
    decoded = decode((ENTRA / "invalid" / f"{fixture}.json").read_bytes())
    assert [e.event_id for e in decoded.events] == event_ids
    assert [r.item_index for r in decoded.rejections] == indexes
    for rejection, part in zip(decoded.rejections, reason_parts, strict=True):
        assert part in rejection.reason
        assert "@example.com" not in rejection.reason


@pytest.mark.parametrize("path", fixtures(ENTRA / "invalid"), ids=lambda p: p.stem)
def test_every_invalid_fixture_is_covered_by_a_named_case(path):
    assert path.stem in {"truncated", "records_missing", "records_not_a_list", "top_level_array", "bad_records"}


def assert_well_formed(decoded) -> None:
    for rejection in decoded.rejections:
        assert rejection.stage == STAGE
        assert rejection.reason
    for event in decoded.events:
        assert event.kind is UsageKind.SIGNIN
        assert event.event_time.tzinfo is UTC
        assert event.user
        assert event.saas_app is not None
        assert event.saas_app.name
        assert event.device_id != ""


@settings(max_examples=300, deadline=None)
@given(st.binary(max_size=2048))
def test_arbitrary_bytes_never_raise(raw):
    assert_well_formed(decode(raw))


@settings(max_examples=300, deadline=None)
@given(json_values | st.dictionaries(st.just("records"), json_values))
def test_arbitrary_json_never_raises(document):
    assert_well_formed(decode(document))


categories = st.sampled_from(["SignInLogs", "NonInteractiveUserSignInLogs", "ServicePrincipalSignInLogs"])
property_keys = ["id", "createdDateTime", "userPrincipalName", "appId", "appDisplayName", "status", "deviceDetail"]
record_like = st.fixed_dictionaries(
    {"category": categories | json_values},
    optional={
        "time": json_values,
        "resultType": st.sampled_from(["0", "50126", 0]) | json_values,
        "properties": st.dictionaries(st.sampled_from(property_keys), json_values, max_size=5) | json_values,
    },
)


@settings(max_examples=300, deadline=None)
@given(st.lists(record_like, max_size=5), st.dictionaries(st.sampled_from(property_keys), json_values, max_size=3))
def test_mutated_records_end_counted_skipped_or_rejected_never_raise(records, overrides):
    assert_well_formed(decode(body(*records, sign_in(properties=overrides))))


@pytest.mark.parametrize(
    ("properties", "overrides"),
    [
        pytest.param({"createdDateTime": "0001-01-01T00:00:00+14:00"}, {}, id="createdDateTime in year 1"),
        pytest.param({"createdDateTime": None}, {"time": "9999-12-31T23:59:59-14:00"}, id="time in year 9999"),
    ],
)
def test_a_time_no_column_can_hold_is_rejected_not_raised(properties, overrides):
    decoded = decode(body(sign_in(properties=properties, **overrides)))
    assert decoded.events == [] and len(decoded.rejections) == 1
