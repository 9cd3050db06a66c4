"""Stage 1 for the agent topic: bytes to normalized usage events, or rejections with a reason."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any, get_args

import msgspec
import orjson
from pydantic import ValidationError

from schemas.agent import AgentEventKind, AgentHealthEvent, AgentSchemaVersion, AgentUsageEnvelope, AgentUsageEvent
from schemas.agent_fast import FastEnvelope, FastUsageEvent
from schemas.records import SourceRecord
from schemas.usage import AgentHealth, ExecutableRef, UsageEvent, UsageKind, UsageSource
from streams.pipeline.decode.opening import SourceDecoded, describe_validation_error, open_object, reject

KNOWN_VERSIONS = get_args(AgentSchemaVersion)
_USAGE_KINDS = {kind: UsageKind(kind.value) for kind in AgentEventKind}
_FAST_ENVELOPE = msgspec.json.Decoder(FastEnvelope)
_FAST_EVENT = msgspec.json.Decoder(FastUsageEvent)


@dataclass(frozen=True, slots=True)
class SizeLimits:
    """Refuse oversized input before parsing it: a runaway agent must not stall a partition."""

    max_message_bytes: int = 1 << 20
    max_event_bytes: int = 64 << 10


DEFAULT_LIMITS = SizeLimits()


def decode_agent_usage(
    record: SourceRecord, limits: SizeLimits = DEFAULT_LIMITS, source_instance: str = "agent"
) -> SourceDecoded:
    """Decode one message holding a single event or an envelope ``{"events": [...]}``.

    Valid version 2 usage takes msgspec's structs in one pass, other valid messages pydantic's
    JSON parser; anything both refuse is judged again item by item, so one bad event in an
    envelope does not cost its neighbours, and the reason is pydantic's.
    """
    size = len(record.value)
    if size > limits.max_message_bytes:
        return SourceDecoded(rejections=[reject(record, f"message of {size} bytes exceeds {limits.max_message_bytes}")])
    if size <= limits.max_event_bytes:
        fastest = _decode_valid_usage(record.value)
        if fastest is not None:
            return SourceDecoded(events=[to_usage_event(item, source_instance, at) for item, at in fastest])
        fast = _decode_valid(record.value)
        if fast is not None:
            decoded = SourceDecoded()
            for item in fast:
                _add(decoded, item, source_instance)
            return decoded
    return _decode_slowly(record, limits, source_instance)


def _add(decoded: SourceDecoded, item: AgentUsageEvent | AgentHealthEvent, source_instance: str) -> None:
    if isinstance(item, AgentHealthEvent):
        decoded.health.append(to_agent_health(item))
    else:
        decoded.events.append(to_usage_event(item, source_instance, item.event_time))


def to_agent_health(event: AgentHealthEvent) -> AgentHealth:
    return AgentHealth(
        event_id=event.event_id,
        device_id=event.device_id,
        event_time=event.event_time,
        agent_version=event.agent_version,
        cpu_percent=event.cpu_percent,
        memory_bytes=event.memory_bytes,
        uptime_seconds=event.uptime_seconds,
        buffered_events=event.buffered_events,
    )


def to_usage_event(event: AgentUsageEvent | FastUsageEvent, source_instance: str, event_time: datetime) -> UsageEvent:
    """The normalized event at ``event_time``, the event's time in UTC (pydantic's reading
    converts it, the fast reading parses it)."""
    executable = event.executable
    return UsageEvent(
        event_id=event.event_id,
        source=UsageSource.AGENT,
        source_instance=source_instance,
        event_time=event_time,
        user=event.user,
        kind=_USAGE_KINDS[event.kind],
        executable=ExecutableRef(
            path=executable.path,
            file_name=executable.file_name,
            publisher=executable.publisher,
            product_name=executable.product_name,
            version=executable.version,
            sha256=executable.sha256,
        ),
        device_id=event.device_id,
        device_timezone=event.device_timezone,
        originating_user=event.originating_user,
        session_type=event.session_type,
        environment=event.environment,
        device_group=event.device_group,
        interval_seconds=event.interval_seconds,
        active_seconds=event.active_seconds,
        idle_seconds=event.idle_seconds,
    )


def _decode_valid_usage(raw: bytes) -> list[tuple[FastUsageEvent, datetime]] | None:
    """Version 2 usage events that pass every check, with their UTC times, or ``None`` to let
    pydantic judge."""
    if b'"health"' in raw:
        return None
    try:
        items = _FAST_ENVELOPE.decode(raw).events if b'"events"' in raw else [_FAST_EVENT.decode(raw)]
    except msgspec.DecodeError:
        return None
    read = []
    for item in items:
        moment = item.moment()
        if moment is None:
            return None
        read.append((item, moment))
    return read


def _decode_valid(raw: bytes) -> list[AgentUsageEvent | AgentHealthEvent] | None:
    try:
        if b'"events"' in raw:
            return AgentUsageEnvelope.model_validate_json(raw).events
        if b'"health"' in raw:
            return [AgentHealthEvent.model_validate_json(raw)]
        return [AgentUsageEvent.model_validate_json(raw)]
    except ValidationError:
        return None


def _decode_slowly(record: SourceRecord, limits: SizeLimits, source_instance: str) -> SourceDecoded:
    decoded = SourceDecoded()
    document = open_object(record, "expected a JSON object: one event, or an envelope with an 'events' list")
    if isinstance(document, str):
        decoded.rejections.append(reject(record, document))
        return decoded
    if "events" not in document:
        _decode_one(record, document, decoded, None, limits, source_instance)
        return decoded
    problem = _envelope_problem(document)
    if problem:
        decoded.rejections.append(reject(record, problem))
        return decoded
    for index, item in enumerate(document["events"]):
        _decode_one(record, item, decoded, index, limits, source_instance)
    return decoded


def _envelope_problem(envelope: dict[str, Any]) -> str | None:
    unknown = sorted(set(envelope) - {"events", "schema_version"})
    if unknown:
        return f"envelope: unknown fields {unknown}"
    if envelope.get("schema_version", KNOWN_VERSIONS[-1]) not in KNOWN_VERSIONS:
        return f"envelope.schema_version: unsupported, this worker reads versions {list(KNOWN_VERSIONS)}"
    events = envelope["events"]
    if not isinstance(events, list) or not events:
        return "envelope.events: must be a non-empty list of events"
    return None


def _decode_one(
    record: SourceRecord, item: Any, decoded: SourceDecoded, index: int | None, limits: SizeLimits, instance: str
) -> None:
    where = "" if index is None else f"events[{index}]: "
    payload = record.value if index is None else orjson.dumps(item)
    if len(payload) > limits.max_event_bytes:
        reason = f"{where}event of {len(payload)} bytes exceeds {limits.max_event_bytes}"
        decoded.rejections.append(reject(record, reason, payload=payload, index=index))
        return
    model = AgentHealthEvent if isinstance(item, dict) and item.get("kind") == "health" else AgentUsageEvent
    try:
        _add(decoded, model.model_validate(item), instance)
    except ValidationError as exc:
        reason = where + describe_validation_error(exc)
        decoded.rejections.append(reject(record, reason, payload=payload, index=index))
