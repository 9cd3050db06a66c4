from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import orjson
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from schemas.usage import SaasAppRef, UsageEvent, UsageKind, UsageSource
from streams.pipeline.decode.okta import decode_okta
from streams.pipeline.decode.opening import STAGE
from tests.unit.helpers import FIXTURES, json_values, record

OKTA = FIXTURES / "okta"
MARK = "SECRET"


def fixtures(folder: Path) -> list[Path]:
    return sorted(folder.glob("*.json"))


def sso_event(**overrides: Any) -> dict[str, Any]:
    event: dict[str, Any] = {
        "uuid": "5f2d8a4e-0000-4000-8000-000000000001",
        "published": "2026-11-27T09:14:03.512Z",
        "eventType": "user.authentication.sso",
        "version": "0",
        "severity": "INFO",
        "displayMessage": "User single sign on to app",
        "actor": {"id": "00u1", "type": "User", "alternateId": f"{MARK}-login@example.com", "displayName": MARK},
        "client": {"ipAddress": f"{MARK}-ip"},
        "outcome": {"result": "SUCCESS"},
        "target": [
            {"id": "0oa1", "type": "AppInstance", "alternateId": "Salesforce.com", "displayName": "Salesforce.com"},
            {"id": "0ua1", "type": "AppUser", "alternateId": f"{MARK}-app-login", "displayName": MARK},
        ],
    }
    event.update(overrides)
    return event


def decode(value: Any, source_instance: str = "okta"):
    return decode_okta(record(value, topic="seatmeter.okta-system-log"), source_instance=source_instance)


@pytest.mark.parametrize("path", fixtures(OKTA), ids=lambda p: p.stem)
def test_every_valid_fixture_decodes_without_rejections(path):
    decoded = decode(path.read_bytes())
    assert decoded.rejections == []
    for event in decoded.events:
        assert event.source is UsageSource.OKTA
        assert event.kind is UsageKind.SIGNIN
        assert event.event_time.tzinfo is UTC
        assert event.event_id.startswith("okta:")


@pytest.mark.parametrize(
    ("fixture", "expected"),
    [
        pytest.param(
            "sso_success",
            [("okta:5f2d8a4e-cc1b-11f0-9b4e-3b1e4f2a6c01", "ana.silva@example.com", "Salesforce.com")],
            id="sso success counts",
        ),
        pytest.param("sso_failure", [], id="failed sso is skipped"),
        pytest.param("session_start", [], id="okta sign-in is not app use"),
        pytest.param(
            "api_page",
            [
                ("okta:0b6c1f3a-cc1c-11f0-a1b2-6d3e2f1a0b03", "chen.wei@example.com", "Slack"),
                ("okta:0b6c1f3a-cc1c-11f0-a1b2-6d3e2f1a0b05", "dara.obrien@example.com", "Workday"),
            ],
            id="api page: only successful sso among session, policy, token grant, challenge",
        ),
        pytest.param(
            "sso_unicode_names",
            [("okta:9e41b7d0-cc1c-11f0-b7aa-21c4d5e6f707", "zoë.łukasiewicz@exämple.com", "勤怠管理 (Jobcan)")],
            id="unicode names pass through unchanged",
        ),
        pytest.param(
            "event_hook_delivery",
            [("okta:c3d2e1f0-cc1d-11f0-9e8f-7a6b5c4d3e01", "eve.martin@example.com", "Atlassian Cloud")],
            id="event hook delivery",
        ),
    ],
)
def test_fixture_yields_exactly_these_sign_ins(fixture, expected):
    decoded = decode((OKTA / f"{fixture}.json").read_bytes())
    assert [(e.event_id, e.user, e.saas_app.name) for e in decoded.events] == expected


def test_a_successful_sso_maps_to_one_sign_in():
    decoded = decode((OKTA / "sso_success.json").read_bytes(), source_instance="okta-prod")
    assert decoded.events == [
        UsageEvent(
            event_id="okta:5f2d8a4e-cc1b-11f0-9b4e-3b1e4f2a6c01",
            source=UsageSource.OKTA,
            source_instance="okta-prod",
            event_time=datetime(2026, 11, 27, 9, 14, 3, 512000, tzinfo=UTC),
            user="ana.silva@example.com",
            kind=UsageKind.SIGNIN,
            saas_app=SaasAppRef(name="Salesforce.com", url=None, app_id="0oa1a35nndfI7w1yp1d8"),
            device_id=None,
            interval_seconds=0.0,
            active_seconds=None,
        )
    ]


@pytest.mark.parametrize(
    ("published", "expected_utc"),
    [
        pytest.param("2026-11-27T09:14:03.512Z", datetime(2026, 11, 27, 9, 14, 3, 512000, tzinfo=UTC), id="zulu"),
        pytest.param(
            "2026-11-27T10:14:03.512+01:00", datetime(2026, 11, 27, 9, 14, 3, 512000, tzinfo=UTC), id="plus one"
        ),
        pytest.param("2026-11-27T04:14:03-05:00", datetime(2026, 11, 27, 9, 14, 3, tzinfo=UTC), id="minus five"),
        pytest.param(
            "2026-11-28T00:44:03+05:30", datetime(2026, 11, 27, 19, 14, 3, tzinfo=UTC), id="half hour, next day"
        ),
    ],
)
def test_published_is_normalized_to_utc(published, expected_utc):
    [event] = decode(sso_event(published=published)).events
    assert event.event_time == expected_utc
    assert event.event_time.tzinfo is UTC


@pytest.mark.parametrize(
    ("event_type", "result", "counts"),
    [
        pytest.param("user.authentication.sso", "SUCCESS", True, id="sso success"),
        pytest.param("user.authentication.sso", "FAILURE", False, id="sso failure"),
        pytest.param("user.authentication.sso", "CHALLENGE", False, id="sso challenge"),
        pytest.param("user.authentication.sso", "DENY", False, id="sso deny"),
        pytest.param("user.authentication.sso", "UNKNOWN", False, id="sso unknown"),
        pytest.param("user.authentication.sso", "success", False, id="outcome is case sensitive"),
        pytest.param("user.session.start", "SUCCESS", False, id="okta session start"),
        pytest.param("user.session.access_admin_app", "SUCCESS", False, id="okta admin console"),
        pytest.param("policy.evaluate_sign_on", "ALLOW", False, id="sign-on policy evaluation"),
        pytest.param("user.authentication.auth_via_mfa", "SUCCESS", False, id="mfa step"),
        pytest.param("app.oauth2.as.token.grant.access_token", "SUCCESS", False, id="access token grant"),
        pytest.param("app.oauth2.as.token.grant.refresh_token", "SUCCESS", False, id="refresh token grant"),
        pytest.param("app.oauth2.token.grant.id_token", "SUCCESS", False, id="org server id token grant"),
        pytest.param("app.generic.unauth_app_access_attempt", "FAILURE", False, id="unassigned app attempt"),
        pytest.param("app.auth.sso", "SUCCESS", False, id="legacy event type name"),
    ],
)
def test_only_successful_sso_counts(event_type, result, counts):
    decoded = decode(sso_event(eventType=event_type, outcome={"result": result}))
    assert decoded.rejections == []
    assert len(decoded.events) == (1 if counts else 0)


@pytest.mark.parametrize(
    "event",
    [
        pytest.param(sso_event(outcome=None), id="no outcome"),
        pytest.param({"uuid": "x", "eventType": "user.session.start"}, id="malformed but not sso"),
        pytest.param(sso_event(eventType="user.session.start", published="not a time"), id="bad time but not sso"),
    ],
)
def test_skipped_events_are_neither_usage_nor_rejections(event):
    decoded = decode(event)
    assert decoded.events == []
    assert decoded.rejections == []


@pytest.mark.parametrize(
    ("value", "reason_part"),
    [
        pytest.param(b"", "not valid JSON", id="empty message"),
        pytest.param(b'{"uuid": ', "not valid JSON", id="truncated json"),
        pytest.param(42, "expected a LogEvent object", id="number"),
        pytest.param({"published": "2026-11-27T09:14:03Z"}, "string eventType", id="no event type"),
        pytest.param(sso_event(eventType=7), "string eventType", id="event type not a string"),
        pytest.param(sso_event(uuid=None), "uuid", id="uuid null"),
        pytest.param(sso_event(uuid=""), "uuid", id="uuid empty"),
        pytest.param({k: v for k, v in sso_event().items() if k != "published"}, "published", id="published missing"),
        pytest.param(sso_event(published="2026-11-27T09:14:03.512"), "published", id="published without offset"),
        pytest.param(sso_event(published=MARK), "published", id="published not a time"),
        pytest.param(sso_event(outcome={"reason": MARK}), "outcome.result", id="outcome without result"),
        pytest.param(sso_event(actor=None), "actor: required", id="no actor"),
        pytest.param(
            sso_event(actor={"id": "0oa1", "type": "PublicClientApp", "alternateId": MARK}),
            "actor.type",
            id="actor is an app",
        ),
        pytest.param(
            sso_event(actor={"id": "00u1", "type": "User", "displayName": MARK}), "actor.alternateId", id="no login"
        ),
        pytest.param(
            sso_event(actor={"id": "00u1", "type": "User", "alternateId": ""}), "actor.alternateId", id="empty login"
        ),
        pytest.param(sso_event(actor={"type": "User", "alternateId": MARK}), "actor.id", id="actor without id"),
        pytest.param(sso_event(target=None), "AppInstance", id="no targets"),
        pytest.param(sso_event(target=[]), "AppInstance", id="empty targets"),
        pytest.param(
            sso_event(target=[{"id": "0ua1", "type": "AppUser", "alternateId": MARK}]),
            "AppInstance",
            id="no app target",
        ),
        pytest.param(
            sso_event(target=[{"id": "0oa1", "type": "AppInstance"}]), "neither displayName", id="app without name"
        ),
        pytest.param(sso_event(target={"id": "0oa1", "type": "AppInstance"}), "target", id="target not a list"),
    ],
)
def test_unusable_input_is_rejected_with_a_reason_that_names_no_value(value, reason_part):
    decoded = decode(value)
    assert decoded.events == []
    [rejection] = decoded.rejections
    assert rejection.stage == STAGE
    assert reason_part in rejection.reason
    assert MARK not in rejection.reason
    assert "example.com" not in rejection.reason


def test_app_name_falls_back_to_the_targets_alternate_id():
    target = [{"id": "0oa9", "type": "AppInstance", "alternateId": "Zoom"}]
    [event] = decode(sso_event(target=target)).events
    assert event.saas_app == SaasAppRef(name="Zoom", app_id="0oa9")


def test_the_first_app_target_names_the_app_whatever_its_position():
    target = [
        {"id": "0ua1", "type": "AppUser", "alternateId": "someone"},
        {"id": "0oa2", "type": "AppInstance", "displayName": "Box"},
        {"id": "0oa3", "type": "AppInstance", "displayName": "Dropbox"},
    ]
    [event] = decode(sso_event(target=target)).events
    assert event.saas_app == SaasAppRef(name="Box", app_id="0oa2")


def test_unknown_fields_are_tolerated():
    [event] = decode(sso_event(newOktaField={"nested": [1, 2]}, device={"id": "guo1", "managed": True})).events
    assert event.user == f"{MARK}-login@example.com"


def test_an_empty_api_page_is_nothing_to_do():
    decoded = decode([])
    assert decoded.events == []
    assert decoded.rejections == []


@pytest.mark.parametrize(
    ("fixture", "reason_parts", "indexes", "event_ids"),
    [
        pytest.param("truncated", ["not valid JSON"], [None], [], id="truncated"),
        pytest.param("bare_string", ["expected a LogEvent object"], [None], [], id="bare string"),
        pytest.param("sso_missing_uuid", ["uuid: Field required"], [None], [], id="missing uuid"),
        pytest.param(
            "sso_naive_published", ["published: Input should have timezone info"], [None], [], id="naive time"
        ),
        pytest.param("sso_without_app_target", ["no AppInstance target"], [None], [], id="no app target"),
        pytest.param("sso_without_actor_login", ["actor.alternateId"], [None], [], id="no login"),
        pytest.param(
            "event_hook_without_events", ["event hook delivery: data.events"], [None], [], id="hook without events"
        ),
        pytest.param(
            "page_with_bad_events",
            ["[1]: expected a LogEvent object", "[2]: published", "[3]: actor.type"],
            [1, 2, 3],
            ["okta:1d1d1d1d-cc1e-11f0-8a8a-0b0b0b0b0b01", "okta:1d1d1d1d-cc1e-11f0-8a8a-0b0b0b0b0b05"],
            id="page: bad events cost only themselves",
        ),
    ],
)
def test_invalid_fixture_is_rejected_where_it_is_bad(fixture, reason_parts, indexes, event_ids):
    raw = (OKTA / "invalid" / f"{fixture}.json").read_bytes()
    decoded = decode(raw)
    assert [e.event_id for e in decoded.events] == event_ids
    assert [r.item_index for r in decoded.rejections] == indexes
    for rejection, part in zip(decoded.rejections, reason_parts, strict=True):
        assert part in rejection.reason
        assert "@example.com" not in rejection.reason


@pytest.mark.parametrize("path", fixtures(OKTA / "invalid"), ids=lambda p: p.stem)
def test_every_invalid_fixture_is_covered_by_a_named_case(path):
    assert path.stem in {
        "truncated",
        "bare_string",
        "sso_missing_uuid",
        "sso_naive_published",
        "sso_without_app_target",
        "sso_without_actor_login",
        "event_hook_without_events",
        "page_with_bad_events",
    }


def test_a_rejected_item_keeps_its_own_payload_and_the_whole_message_its_bytes():
    page = [sso_event(uuid="a"), sso_event(uuid="b", published="soon"), sso_event(uuid="c")]
    decoded = decode(page)
    assert [e.event_id for e in decoded.events] == ["okta:a", "okta:c"]
    [rejection] = decoded.rejections
    assert rejection.item_index == 1
    assert orjson.loads(rejection.payload)["uuid"] == "b"
    single = decode(sso_event(published="soon"))
    assert single.rejections[0].item_index is None
    assert single.rejections[0].payload == orjson.dumps(sso_event(published="soon"))


def test_event_hook_items_are_indexed_within_data_events():
    delivery = {"eventType": "com.okta.event_hook", "data": {"events": [sso_event(uuid="a"), "x"]}}
    decoded = decode(delivery)
    assert [e.event_id for e in decoded.events] == ["okta:a"]
    [rejection] = decoded.rejections
    assert rejection.item_index == 1
    assert rejection.reason.startswith("data.events[1]: ")


def test_the_same_message_decodes_to_the_same_event_ids():
    raw = (OKTA / "api_page.json").read_bytes()
    assert [e.event_id for e in decode(raw).events] == [e.event_id for e in decode(raw).events]


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


@settings(max_examples=300, deadline=None)
@given(st.binary(max_size=2048))
def test_arbitrary_bytes_never_raise(raw):
    assert_well_formed(decode(raw))


@settings(max_examples=300, deadline=None)
@given(json_values | st.lists(json_values, max_size=5))
def test_arbitrary_json_never_raises(document):
    assert_well_formed(decode(document))


okta_keys = st.sampled_from(["uuid", "published", "eventType", "actor", "outcome", "target", "client", "debugContext"])
sso_like = st.fixed_dictionaries(
    {"eventType": st.sampled_from(["user.authentication.sso", "user.session.start"]) | json_values},
    optional=dict.fromkeys(["uuid", "published", "actor", "outcome", "target", "client"], json_values),
)


@settings(max_examples=300, deadline=None)
@given(st.lists(sso_like, max_size=4), st.dictionaries(okta_keys, json_values, max_size=3))
def test_mutated_sso_events_end_counted_skipped_or_rejected_never_raise(page, overrides):
    assert_well_formed(decode([*page, sso_event(**overrides)]))
    assert_well_formed(decode({"eventType": "com.okta.event_hook", "data": {"events": page}}))


@pytest.mark.parametrize(
    "published", ["0001-01-01T00:00:00+14:00", "9999-12-31T23:59:59-14:00", "1969-07-20T20:17:00Z"]
)
def test_a_time_no_column_can_hold_is_rejected_not_raised(published):
    decoded = decode_okta(record(sso_event(published=published)))
    assert decoded.events == [] and len(decoded.rejections) == 1
