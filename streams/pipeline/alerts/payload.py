"""Stage: alerts as the JSON other systems read.

``alert_message`` makes the message of the compacted ``alerts`` topic (keyed by alert id, so the
latest state wins). ``alertmanager_payload`` makes the body that Alertmanager POSTs to its webhook
receivers (version 4), so anything that takes Alertmanager webhooks takes Seatmeter's alerts.
Alert names and severities match the Prometheus rules in deploy/prometheus/rules/ (a test checks
it), and fingerprints are Prometheus's own for the same labels.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from datetime import datetime
from typing import Any

import orjson

from schemas.alerts import Alert, AlertRule, AlertState, SubjectKind
from schemas.moments import as_utc

WEBHOOK_VERSION = "4"
RECEIVER = "seatmeter"
ZERO_TIME = "0001-01-01T00:00:00Z"
DEFAULT_GROUP_BY = ("alertname",)

ALERT_NAMES: Mapping[AlertRule, str] = {
    AlertRule.POOL_OVERRUN: "SeatmeterLicensePoolOverrun",
    AlertRule.NAMED_USER_OVERRUN: "SeatmeterNamedUserPoolOverrun",
    AlertRule.UNLICENSED_USE: "SeatmeterUnlicensedUse",
    AlertRule.SYNC_GAP: "SeatmeterSyncGap",
}
SEVERITIES: Mapping[AlertRule, str] = {
    AlertRule.POOL_OVERRUN: "critical",
    AlertRule.NAMED_USER_OVERRUN: "warning",
    AlertRule.UNLICENSED_USE: "warning",
    AlertRule.SYNC_GAP: "warning",
}

_FNV_OFFSET = 14695981039346656037
_FNV_PRIME = 1099511628211
_SEPARATOR = 0xFF
_MASK = (1 << 64) - 1

Json = dict[str, Any]


# ------------------------------------------------------------------------ the alerts topic


def alert_message(alert: Alert) -> tuple[bytes, bytes]:
    """Key and value of the alert's message on the ``alerts`` topic."""
    return alert_key(alert), orjson.dumps(alert_record(alert))


def alert_key(alert: Alert) -> bytes:
    return alert.alert_id.encode()


def alert_record(alert: Alert) -> Json:
    """The JSON object of one alert state on the ``alerts`` topic (times in ISO 8601, UTC)."""
    return {
        "alert_id": alert.alert_id,
        "rule": alert.rule.value,
        "subject_kind": alert.subject_kind.value,
        "subject": alert.subject,
        "state": alert.state.value,
        "opened_at": as_utc(alert.opened_at).isoformat(),
        "resolved_at": None if alert.resolved_at is None else as_utc(alert.resolved_at).isoformat(),
        "value": alert.value,
        "threshold": alert.threshold,
        "summary": alert.summary,
        "updated_at": as_utc(alert.updated_at).isoformat(),
    }


def read_alert_record(record: Mapping[str, Any]) -> Alert:
    """The inverse of ``alert_record``; raises ``KeyError``/``ValueError`` on a malformed record."""
    resolved_at = record["resolved_at"]
    return Alert(
        alert_id=str(record["alert_id"]),
        rule=AlertRule(record["rule"]),
        subject_kind=SubjectKind(record["subject_kind"]),
        subject=str(record["subject"]),
        state=AlertState(record["state"]),
        opened_at=datetime.fromisoformat(record["opened_at"]),
        resolved_at=None if resolved_at is None else datetime.fromisoformat(resolved_at),
        value=float(record["value"]),
        threshold=float(record["threshold"]),
        summary=str(record["summary"]),
        updated_at=datetime.fromisoformat(record["updated_at"]),
    )


# ------------------------------------------------------------------- Alertmanager webhook


def alert_labels(alert: Alert) -> dict[str, str]:
    return {
        "alertname": ALERT_NAMES[alert.rule],
        "rule": alert.rule.value,
        "subject_kind": alert.subject_kind.value,
        "subject": alert.subject,
        "severity": SEVERITIES[alert.rule],
    }


def alert_annotations(alert: Alert) -> dict[str, str]:
    return {"summary": alert.summary, "value": f"{alert.value:g}", "threshold": f"{alert.threshold:g}"}


def fingerprint(labels: Mapping[str, str]) -> str:
    """Prometheus's label-set fingerprint (FNV-1a 64 over sorted names and values), in hex."""
    digest = _FNV_OFFSET
    for name in sorted(labels):
        for part in (name, labels[name]):
            for byte in (*part.encode(), _SEPARATOR):
                digest = ((digest ^ byte) * _FNV_PRIME) & _MASK
    return f"{digest:016x}"


def webhook_alert(alert: Alert, generator_url: str = "") -> Json:
    """One entry of ``alerts[]``: an open alert is firing with the zero ``endsAt``."""
    labels = alert_labels(alert)
    resolved = alert.state is AlertState.RESOLVED
    return {
        "status": "resolved" if resolved else "firing",
        "labels": labels,
        "annotations": alert_annotations(alert),
        "startsAt": rfc3339(alert.opened_at),
        "endsAt": rfc3339(alert.resolved_at or alert.updated_at) if resolved else ZERO_TIME,
        "generatorURL": generator_url,
        "fingerprint": fingerprint(labels),
    }


def alertmanager_payload(
    alerts: Sequence[Alert],
    *,
    receiver: str = RECEIVER,
    external_url: str = "",
    group_by: Sequence[str] = DEFAULT_GROUP_BY,
) -> Json:
    """One Alertmanager webhook body for ``alerts`` (not empty) as one group: ``groupLabels`` are
    the ``group_by`` labels they all share. Use ``alertmanager_payloads`` to group as Alertmanager does."""
    if not alerts:
        raise ValueError("an Alertmanager payload needs at least one alert")
    items = [webhook_alert(a, external_url) for a in alerts]
    common = _common([item["labels"] for item in items])
    group_labels = {name: common[name] for name in group_by if name in common}
    return {
        "version": WEBHOOK_VERSION,
        "groupKey": "{}:" + _label_string(group_labels),
        "truncatedAlerts": 0,
        "status": "firing" if any(item["status"] == "firing" for item in items) else "resolved",
        "receiver": receiver,
        "groupLabels": group_labels,
        "commonLabels": common,
        "commonAnnotations": _common([item["annotations"] for item in items]),
        "externalURL": external_url,
        "alerts": items,
    }


def alertmanager_payloads(
    alerts: Iterable[Alert],
    *,
    receiver: str = RECEIVER,
    external_url: str = "",
    group_by: Sequence[str] = DEFAULT_GROUP_BY,
) -> list[Json]:
    """One payload per group of equal ``group_by`` labels, in label order, as Alertmanager sends
    one POST per alert group."""
    groups: dict[tuple[str, ...], list[Alert]] = {}
    for alert in alerts:
        labels = alert_labels(alert)
        groups.setdefault(tuple(labels.get(name, "") for name in group_by), []).append(alert)
    return [
        alertmanager_payload(groups[key], receiver=receiver, external_url=external_url, group_by=group_by)
        for key in sorted(groups)
    ]


def rfc3339(moment: datetime) -> str:
    """UTC with a ``Z``, fractions only when present (Go's RFC3339Nano, as Alertmanager writes)."""
    moment = as_utc(moment)
    text = moment.strftime("%Y-%m-%dT%H:%M:%S")
    if moment.microsecond:
        text += f".{moment.microsecond:06d}".rstrip("0")
    return text + "Z"


def _common(mappings: Sequence[Mapping[str, str]]) -> dict[str, str]:
    first, *rest = mappings
    return {k: v for k, v in sorted(first.items()) if all(m.get(k) == v for m in rest)}


def _label_string(labels: Mapping[str, str]) -> str:
    pairs = ", ".join(f'{name}="{_quote(labels[name])}"' for name in sorted(labels))
    return "{" + pairs + "}"


def _quote(value: str) -> str:
    return value.replace("\\", "\\\\").replace('"', '\\"').replace("\n", "\\n")
