from dataclasses import replace
from datetime import UTC, datetime, timedelta, timezone

import orjson
import pytest

from schemas.alerts import Alert, AlertRule, AlertState, SubjectKind
from streams.pipeline.alerts.payload import (
    ALERT_NAMES,
    SEVERITIES,
    ZERO_TIME,
    alert_key,
    alert_message,
    alert_record,
    alertmanager_payload,
    alertmanager_payloads,
    fingerprint,
    read_alert_record,
    rfc3339,
    webhook_alert,
)

OPENED = datetime(2026, 11, 27, 9, 5, tzinfo=UTC)
UPDATED = datetime(2026, 11, 27, 9, 40, tzinfo=UTC)
RESOLVED_AT = datetime(2026, 11, 27, 9, 35, tzinfo=UTC)

OVERRUN = Alert(
    alert_id="pool_overrun:pool:cad-floating:202611270905",
    rule=AlertRule.POOL_OVERRUN,
    subject_kind=SubjectKind.POOL,
    subject="cad-floating",
    state=AlertState.OPEN,
    opened_at=OPENED,
    resolved_at=None,
    value=12.0,
    threshold=10.0,
    summary="cad-floating: 12 seats running, 10 owned",
    updated_at=UPDATED,
)
OTHER_OVERRUN = replace(
    OVERRUN, alert_id="pool_overrun:pool:design:1", subject="design", value=6.0, threshold=5.0, summary="design: 6 of 5"
)
RESOLVED = replace(OVERRUN, state=AlertState.RESOLVED, resolved_at=RESOLVED_AT)
GAP = replace(
    OVERRUN,
    alert_id="sync_gap:source:okta:1",
    rule=AlertRule.SYNC_GAP,
    subject_kind=SubjectKind.SOURCE,
    subject="seatmeter.okta-system-log",
    value=93600.0,
    threshold=86400.0,
    summary="no Okta sign-ins for 26 hours",
)

# Prometheus's own model.LabelSet{...}.Fingerprint() for OVERRUN's labels (prometheus/common v0.72).
OVERRUN_FINGERPRINT = "a61c07be6f812052"


def test_prometheus_rule_names_cover_every_rule():
    assert set(ALERT_NAMES) == set(SEVERITIES) == set(AlertRule)


# ---------------------------------------------------------------------------- topic record


def test_record_is_json_with_iso_times_and_keyed_by_alert_id():
    key, value = alert_message(OVERRUN)
    assert key == alert_key(OVERRUN) == b"pool_overrun:pool:cad-floating:202611270905"
    assert orjson.loads(value) == alert_record(OVERRUN)
    assert orjson.loads(orjson.dumps(alert_record(OVERRUN))) == {
        "alert_id": OVERRUN.alert_id,
        "rule": "pool_overrun",
        "subject_kind": "pool",
        "subject": "cad-floating",
        "state": "open",
        "opened_at": "2026-11-27T09:05:00+00:00",
        "resolved_at": None,
        "value": 12.0,
        "threshold": 10.0,
        "summary": "cad-floating: 12 seats running, 10 owned",
        "updated_at": "2026-11-27T09:40:00+00:00",
    }


@pytest.mark.parametrize(
    "alert",
    [
        pytest.param(OVERRUN, id="open"),
        pytest.param(RESOLVED, id="resolved"),
        pytest.param(GAP, id="sync gap of a source"),
    ],
)
def test_record_round_trips_through_json(alert):
    assert read_alert_record(orjson.loads(orjson.dumps(alert_record(alert)))) == alert


def test_record_times_are_utc_whatever_the_input_zone():
    cet = timezone(timedelta(hours=1))
    naive = alert_record(replace(OVERRUN, opened_at=datetime(2026, 11, 27, 9, 5)))
    aware = alert_record(replace(OVERRUN, opened_at=datetime(2026, 11, 27, 10, 5, tzinfo=cet)))
    assert naive["opened_at"] == aware["opened_at"] == "2026-11-27T09:05:00+00:00"


def test_malformed_record_is_refused():
    record = alert_record(OVERRUN) | {"rule": "pool_underrun"}
    with pytest.raises(ValueError, match="pool_underrun"):
        read_alert_record(record)


# --------------------------------------------------------------------- Alertmanager webhook


@pytest.mark.parametrize(
    ("moment", "expected"),
    [
        pytest.param(OPENED, "2026-11-27T09:05:00Z", id="whole seconds"),
        pytest.param(OPENED.replace(microsecond=250_000), "2026-11-27T09:05:00.25Z", id="fraction trimmed"),
        pytest.param(datetime(2026, 11, 27, 9, 5), "2026-11-27T09:05:00Z", id="naive is UTC"),
        pytest.param(
            datetime(2026, 11, 27, 4, 5, tzinfo=timezone(timedelta(hours=-5))),
            "2026-11-27T09:05:00Z",
            id="other zone converted",
        ),
    ],
)
def test_rfc3339(moment, expected):
    assert rfc3339(moment) == expected


@pytest.mark.parametrize(
    ("alert", "status", "ends_at"),
    [
        pytest.param(OVERRUN, "firing", ZERO_TIME, id="open alert fires with the zero end"),
        pytest.param(RESOLVED, "resolved", "2026-11-27T09:35:00Z", id="resolved alert ends when resolved"),
        pytest.param(
            replace(RESOLVED, resolved_at=None), "resolved", "2026-11-27T09:40:00Z", id="resolved without time"
        ),
    ],
)
def test_webhook_alert_status_and_times(alert, status, ends_at):
    item = webhook_alert(alert)
    assert (item["status"], item["startsAt"], item["endsAt"]) == (status, "2026-11-27T09:05:00Z", ends_at)


def test_webhook_alert_labels_annotations_and_fingerprint():
    item = webhook_alert(OVERRUN, "http://seatmeter.example/alerts")
    assert item["labels"] == {
        "alertname": "SeatmeterLicensePoolOverrun",
        "rule": "pool_overrun",
        "subject_kind": "pool",
        "subject": "cad-floating",
        "severity": "critical",
    }
    assert item["annotations"] == {"summary": OVERRUN.summary, "value": "12", "threshold": "10"}
    assert item["generatorURL"] == "http://seatmeter.example/alerts"
    assert item["fingerprint"] == OVERRUN_FINGERPRINT


@pytest.mark.parametrize(
    ("labels", "expected"),
    [
        pytest.param({}, "cbf29ce484222325", id="empty set is the FNV offset"),
        pytest.param(dict(reversed(webhook_alert(OVERRUN)["labels"].items())), OVERRUN_FINGERPRINT, id="order-free"),
    ],
)
def test_fingerprint_matches_prometheus(labels, expected):
    assert fingerprint(labels) == expected


def test_fingerprint_is_stable_across_states_and_distinct_across_subjects():
    assert webhook_alert(RESOLVED)["fingerprint"] == webhook_alert(OVERRUN)["fingerprint"]
    assert webhook_alert(OTHER_OVERRUN)["fingerprint"] != webhook_alert(OVERRUN)["fingerprint"]


def test_payload_has_alertmanager_fields_for_one_group():
    payload = alertmanager_payload([OVERRUN, OTHER_OVERRUN], receiver="itam", external_url="http://sm.example")
    assert payload["version"] == "4"
    assert payload["groupKey"] == '{}:{alertname="SeatmeterLicensePoolOverrun"}'
    assert payload["truncatedAlerts"] == 0
    assert payload["status"] == "firing"
    assert payload["receiver"] == "itam"
    assert payload["externalURL"] == "http://sm.example"
    assert payload["groupLabels"] == {"alertname": "SeatmeterLicensePoolOverrun"}
    assert payload["commonLabels"] == {
        "alertname": "SeatmeterLicensePoolOverrun",
        "rule": "pool_overrun",
        "severity": "critical",
        "subject_kind": "pool",
    }
    assert payload["commonAnnotations"] == {}
    assert [a["labels"]["subject"] for a in payload["alerts"]] == ["cad-floating", "design"]
    assert orjson.loads(orjson.dumps(payload)) == payload


@pytest.mark.parametrize(
    ("alerts", "status"),
    [
        pytest.param([RESOLVED], "resolved", id="all resolved"),
        pytest.param([RESOLVED, OTHER_OVERRUN], "firing", id="one still firing"),
    ],
)
def test_payload_status_is_firing_while_any_alert_fires(alerts, status):
    assert alertmanager_payload(alerts)["status"] == status


def test_payload_of_one_alert_shares_all_its_labels_and_annotations():
    payload = alertmanager_payload([GAP])
    assert payload["commonLabels"] == webhook_alert(GAP)["labels"]
    assert payload["commonAnnotations"] == webhook_alert(GAP)["annotations"]


def test_group_labels_only_name_labels_the_group_shares():
    payload = alertmanager_payload([OVERRUN, GAP], group_by=("alertname", "subject_kind", "severity"))
    assert payload["groupLabels"] == {}
    assert payload["groupKey"] == "{}:{}"


def test_payloads_group_like_alertmanager():
    payloads = alertmanager_payloads([GAP, OVERRUN, RESOLVED, OTHER_OVERRUN])
    assert [p["groupLabels"] for p in payloads] == [
        {"alertname": "SeatmeterLicensePoolOverrun"},
        {"alertname": "SeatmeterSyncGap"},
    ]
    assert [len(p["alerts"]) for p in payloads] == [3, 1]
    assert alertmanager_payloads([]) == []


def test_payload_needs_an_alert():
    with pytest.raises(ValueError, match="at least one alert"):
        alertmanager_payload([])
