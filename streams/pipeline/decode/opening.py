"""What every source decoder returns, and helpers they share."""

from __future__ import annotations

import hashlib
import re
from dataclasses import dataclass, field
from typing import Any

import orjson
from pydantic import ValidationError

from schemas.records import Rejection, SourceRecord
from schemas.usage import AgentHealth, UsageEvent

STAGE = "decode"
MAX_REASON_ERRORS = 5
_FIELD_NAME = re.compile(r"[A-Za-z_][A-Za-z0-9_]{0,63}")


@dataclass(slots=True)
class SourceDecoded:
    """Normalized events from one message, and a rejection for each part that was not usable."""

    events: list[UsageEvent] = field(default_factory=list)
    rejections: list[Rejection] = field(default_factory=list)
    health: list[AgentHealth] = field(default_factory=list)


@dataclass(frozen=True, slots=True)
class NotJson:
    """A message whose bytes do not parse as JSON, and the parser's reason (a JSON string is a document)."""

    reason: str


def open_json(record: SourceRecord) -> object | NotJson:
    """The message's JSON document, for sources that accept more than an object (arrays, null)."""
    try:
        document: object = orjson.loads(record.value)
    except orjson.JSONDecodeError as exc:
        return NotJson(f"not valid JSON: {exc}")
    return document


def open_object(record: SourceRecord, expected: str) -> dict[str, Any] | str:
    """The message's JSON object, or the dead-letter reason: the parser's, else ``expected``."""
    document = open_json(record)
    if isinstance(document, NotJson):
        return document.reason
    if not isinstance(document, dict):
        return expected
    return document


def describe_validation_error(error: ValidationError) -> str:
    """A short reason naming fields and rules, never the offending values (they may be identities).

    An unknown key that does not look like a field name is withheld too: the sender chose that
    text, and it could be an identity (a mapping keyed by user, say).
    """
    parts = []
    for item in error.errors(include_input=False, include_url=False)[:MAX_REASON_ERRORS]:
        location = ".".join(safe_location_part(part) for part in item["loc"]) or "(root)"
        parts.append(f"{location}: {item['msg']}")
    extra = error.error_count() - MAX_REASON_ERRORS
    if extra > 0:
        parts.append(f"and {extra} more")
    return "; ".join(parts)


def safe_location_part(part: int | str) -> str:
    """A list index or field name as it is; any other text the sender chose is withheld."""
    if isinstance(part, int) or _FIELD_NAME.fullmatch(part):
        return str(part)
    return "(unnamed field)"


def reject(record: SourceRecord, reason: str, payload: bytes | None = None, index: int | None = None) -> Rejection:
    return Rejection(
        record=record,
        stage=STAGE,
        reason=reason,
        payload=record.value if payload is None else payload,
        item_index=index,
    )


def derived_event_id(source: str, *parts: object) -> str:
    """A deterministic id for sources that have none: the same observation always gets the same id."""
    digest = hashlib.sha256("\x1f".join([source, *(str(p) for p in parts)]).encode())
    return f"{source}:{digest.hexdigest()[:32]}"
