"""Stage 1: bytes from the agent topic to validated usage events, or rejections with a reason."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import orjson
from pydantic import ValidationError

from schemas.agent import AGENT_SCHEMA_VERSION, AgentUsageEnvelope, AgentUsageEvent
from schemas.records import Rejection, SourceRecord

STAGE = "decode"
MAX_REASON_ERRORS = 5


@dataclass(slots=True)
class Decoded:
    """What one message yielded: valid events, and a rejection for each part that was not."""

    events: list[AgentUsageEvent] = field(default_factory=list)
    rejections: list[Rejection] = field(default_factory=list)


def describe_validation_error(error: ValidationError) -> str:
    """A short reason naming fields and rules, never the offending values (they may be identities)."""
    parts = []
    for item in error.errors(include_input=False, include_url=False)[:MAX_REASON_ERRORS]:
        location = ".".join(str(part) for part in item["loc"]) or "(root)"
        parts.append(f"{location}: {item['msg']}")
    extra = error.error_count() - MAX_REASON_ERRORS
    if extra > 0:
        parts.append(f"and {extra} more")
    return "; ".join(parts)


def decode_agent_usage(record: SourceRecord) -> Decoded:
    """Decode one message holding a single event or an envelope ``{"events": [...]}``.

    Valid messages take pydantic's JSON parser in one pass; anything it refuses is judged again
    item by item, so one bad event in an envelope does not cost its neighbours.
    """
    fast = _decode_valid(record.value)
    if fast is not None:
        return Decoded(events=fast)
    decoded = Decoded()
    try:
        document = orjson.loads(record.value)
    except orjson.JSONDecodeError as exc:
        decoded.rejections.append(_reject(record, f"not valid JSON: {exc}"))
        return decoded
    if not isinstance(document, dict):
        decoded.rejections.append(
            _reject(record, "expected a JSON object: one event, or an envelope with an 'events' list")
        )
        return decoded
    if "events" in document:
        _decode_envelope(record, document, decoded)
    else:
        _decode_one(record, document, decoded, index=None)
    return decoded


def _decode_valid(raw: bytes) -> list[AgentUsageEvent] | None:
    try:
        if b'"events"' in raw:
            return AgentUsageEnvelope.model_validate_json(raw).events
        return [AgentUsageEvent.model_validate_json(raw)]
    except ValidationError:
        return None


def _decode_envelope(record: SourceRecord, envelope: dict[str, Any], decoded: Decoded) -> None:
    problem = _envelope_problem(envelope)
    if problem:
        decoded.rejections.append(_reject(record, problem))
        return
    for index, item in enumerate(envelope["events"]):
        _decode_one(record, item, decoded, index=index)


def _envelope_problem(envelope: dict[str, Any]) -> str | None:
    unknown = sorted(set(envelope) - {"events", "schema_version"})
    if unknown:
        return f"envelope: unknown fields {unknown}"
    if envelope.get("schema_version", AGENT_SCHEMA_VERSION) != AGENT_SCHEMA_VERSION:
        return f"envelope.schema_version: unsupported, this worker reads version {AGENT_SCHEMA_VERSION}"
    events = envelope["events"]
    if not isinstance(events, list) or not events:
        return "envelope.events: must be a non-empty list of events"
    return None


def _decode_one(record: SourceRecord, item: Any, decoded: Decoded, index: int | None) -> None:
    try:
        decoded.events.append(AgentUsageEvent.model_validate(item))
    except ValidationError as exc:
        where = "" if index is None else f"events[{index}]: "
        payload = record.value if index is None else orjson.dumps(item)
        decoded.rejections.append(_reject(record, where + describe_validation_error(exc), payload=payload, index=index))


def _reject(record: SourceRecord, reason: str, payload: bytes | None = None, index: int | None = None) -> Rejection:
    return Rejection(
        record=record,
        stage=STAGE,
        reason=reason,
        payload=record.value if payload is None else payload,
        item_index=index,
    )
