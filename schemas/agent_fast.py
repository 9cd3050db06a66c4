"""The agent's usage messages as msgspec structs: the fast reading of input that is valid.

These mirror ``schemas.agent`` field for field, with the same bounds, for schema version 2
usage events and envelopes of them only. They are a shortcut, never the judge: whatever they
refuse (a version 1 event, a health event, any invalid field) is read again by the pydantic
models, which give the precise reason. So they must never accept what those models refuse;
``tests/unit/schemas/test_agent_fast.py`` holds the two readings to each other on generated
input.
"""

from __future__ import annotations

import re
from datetime import UTC, datetime
from typing import Annotated, Literal

import msgspec

from schemas.agent import AGENT_SCHEMA_VERSION, INTERVAL_TOLERANCE_SECONDS, AgentEventKind
from schemas.bounds import EARLIEST_EVENT_TIME, LATEST_EVENT_TIME
from schemas.usage import Environment, SessionType

Identifier = Annotated[str, msgspec.Meta(min_length=1, max_length=256)]
Seconds = Annotated[float, msgspec.Meta(ge=0, le=7 * 24 * 3600)]
RFC3339_TIME = re.compile(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(?:\.\d{1,6})?(?:Z|[+-]\d\d:\d\d)")
"""The one form of event time read here: finer than microseconds is left to pydantic (msgspec
would round it, pydantic truncates), as are the other forms pydantic accepts."""
Sha256 = Annotated[str, msgspec.Meta(min_length=64, max_length=64, pattern="^[0-9a-fA-F]{64}$")]


class FastExecutable(msgspec.Struct, frozen=True, forbid_unknown_fields=True, gc=False):
    path: Annotated[str, msgspec.Meta(min_length=1, max_length=4096)]
    file_name: Annotated[str, msgspec.Meta(min_length=1, max_length=512)]
    publisher: Annotated[str, msgspec.Meta(max_length=512)] | None = None
    product_name: Annotated[str, msgspec.Meta(max_length=512)] | None = None
    version: Annotated[str, msgspec.Meta(max_length=128)] | None = None
    sha256: Sha256 | None = None


class FastUsageEvent(msgspec.Struct, frozen=True, forbid_unknown_fields=True, gc=False):
    event_id: Identifier
    event_time: str
    device_id: Identifier
    user: Identifier
    executable: FastExecutable
    kind: AgentEventKind
    schema_version: Literal[2] = AGENT_SCHEMA_VERSION
    active_seconds: Seconds = 0.0
    idle_seconds: Seconds = 0.0
    interval_seconds: Seconds = 0.0
    session_type: SessionType = SessionType.UNKNOWN
    originating_user: Identifier | None = None
    environment: Environment = Environment.UNKNOWN
    device_group: Annotated[str, msgspec.Meta(min_length=1, max_length=256)] | None = None
    device_timezone: Annotated[str, msgspec.Meta(min_length=1, max_length=64)] | None = None

    def moment(self) -> datetime | None:
        """The event time in UTC if the event passes the checks ``AgentUsageEvent`` makes
        beyond its fields' types, else ``None``."""
        if not RFC3339_TIME.fullmatch(self.event_time):
            return None
        try:
            moment = datetime.fromisoformat(self.event_time).astimezone(UTC)
        except (ValueError, OverflowError):
            return None
        if not EARLIEST_EVENT_TIME <= moment <= LATEST_EVENT_TIME:
            return None
        if self.active_seconds + self.idle_seconds > self.interval_seconds + INTERVAL_TOLERANCE_SECONDS:
            return None
        return moment


class FastEnvelope(msgspec.Struct, frozen=True, forbid_unknown_fields=True, gc=False):
    events: Annotated[list[FastUsageEvent], msgspec.Meta(min_length=1, max_length=10_000)]
    schema_version: Literal[2] = AGENT_SCHEMA_VERSION
