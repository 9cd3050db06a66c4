"""Alerts: what the evaluator opens and resolves, as plain values for every output.

An alert is identified by its rule, its subject and the minute it opened, so evaluating the same
data again names the same alert: the ``alerts`` topic and table receive the same id and the
latest state wins (table: ReplacingMergeTree on ``updated_at``; topic: compacted, keyed by id).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from enum import StrEnum


class AlertRule(StrEnum):
    """Why an alert exists; also its Prometheus ``rule`` label."""

    POOL_OVERRUN = "pool_overrun"
    NAMED_USER_OVERRUN = "named_user_overrun"
    UNLICENSED_USE = "unlicensed_use"
    SYNC_GAP = "sync_gap"


class AlertState(StrEnum):
    OPEN = "open"
    RESOLVED = "resolved"


class SubjectKind(StrEnum):
    """What an alert is about: a license pool, a product, a device, an agent, a source or the writer."""

    POOL = "pool"
    PRODUCT = "product"
    DEVICE = "device"
    AGENT = "agent"
    SOURCE = "source"
    WRITER = "writer"


@dataclass(frozen=True, slots=True)
class Alert:
    """One alert's lifecycle at a moment. ``value`` and ``threshold`` are in the rule's unit
    (seats for overruns, seconds of silence for sync gaps, active users for unlicensed use)."""

    alert_id: str
    rule: AlertRule
    subject_kind: SubjectKind
    subject: str
    state: AlertState
    opened_at: datetime
    resolved_at: datetime | None
    value: float
    threshold: float
    summary: str
    updated_at: datetime
