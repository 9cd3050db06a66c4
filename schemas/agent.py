"""What Seatmeter's endpoint agent sends: one usage event, or an envelope of many, per Kafka message."""

from __future__ import annotations

from datetime import UTC, datetime
from enum import StrEnum
from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Discriminator, Field, Tag, field_validator, model_validator

from schemas.bounds import UINT32_MAX, EventTime, UInt32, UInt64
from schemas.usage import Environment, SessionType

AGENT_SCHEMA_VERSION: Literal[2] = 2
AgentSchemaVersion = Literal[1, 2]
V2_FIELDS = ("session_type", "originating_user", "environment", "device_group", "device_timezone")
INTERVAL_TOLERANCE_SECONDS = 1.0

Identifier = Annotated[str, Field(min_length=1, max_length=256)]
Seconds = Annotated[float, Field(ge=0, le=7 * 24 * 3600, allow_inf_nan=False)]


class AgentEventKind(StrEnum):
    """``start`` and ``stop`` bracket a process; ``sample`` reports an interval of use."""

    START = "start"
    SAMPLE = "sample"
    STOP = "stop"


class Executable(BaseModel):
    """The program as the endpoint sees it; fields from the file's version resource when known."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    path: Annotated[str, Field(min_length=1, max_length=4096)]
    file_name: Annotated[str, Field(min_length=1, max_length=512)]
    publisher: Annotated[str, Field(max_length=512)] | None = None
    product_name: Annotated[str, Field(max_length=512)] | None = None
    version: Annotated[str, Field(max_length=128)] | None = None
    sha256: Annotated[str, Field(pattern=r"^[0-9a-fA-F]{64}$")] | None = None


class AgentUsageEvent(BaseModel):
    """One observation of one executable used by one user on one device.

    A ``sample`` (or ``stop``) covers the ``interval_seconds`` that end at ``event_time``:
    ``active_seconds`` had focus and user input, ``idle_seconds`` were open but idle.
    Version 2 adds how the desktop was reached (``session_type``, and ``originating_user`` for
    remote sessions), the ``environment`` tag, ``device_group`` and the device's time zone;
    version 1 events are read as version 2 with those fields unknown.
    """

    model_config = ConfigDict(frozen=True, extra="forbid")

    event_id: Identifier
    schema_version: AgentSchemaVersion = AGENT_SCHEMA_VERSION
    event_time: EventTime
    device_id: Identifier
    user: Identifier
    executable: Executable
    kind: AgentEventKind
    active_seconds: Seconds = 0.0
    idle_seconds: Seconds = 0.0
    interval_seconds: Seconds = 0.0
    session_type: SessionType = SessionType.UNKNOWN
    originating_user: Identifier | None = None
    environment: Environment = Environment.UNKNOWN
    device_group: Annotated[str, Field(min_length=1, max_length=256)] | None = None
    device_timezone: Annotated[str, Field(min_length=1, max_length=64)] | None = None

    @field_validator("event_time")
    @classmethod
    def _to_utc(cls, value: datetime) -> datetime:
        return value.astimezone(UTC)

    @model_validator(mode="after")
    def _consistent(self) -> AgentUsageEvent:
        """One validator, not two: it runs for every event on the hot path."""
        if self.active_seconds + self.idle_seconds > self.interval_seconds + INTERVAL_TOLERANCE_SECONDS:
            raise ValueError(
                f"active_seconds ({self.active_seconds}) + idle_seconds ({self.idle_seconds}) "
                f"exceed interval_seconds ({self.interval_seconds})"
            )
        if self.schema_version == 1:
            present = [name for name in V2_FIELDS if name in self.model_fields_set]
            if present:
                raise ValueError(f"{', '.join(present)} need schema_version 2")
        return self


class AgentHealthEvent(BaseModel):
    """The agent's own figures, sent beside usage (``kind: "health"``, schema version 2): lets
    operators tell a quiet device from a sick agent."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    event_id: Identifier
    schema_version: Literal[2] = 2
    kind: Literal["health"]
    event_time: EventTime
    device_id: Identifier
    agent_version: Annotated[str, Field(min_length=1, max_length=64)]
    cpu_percent: Annotated[float, Field(ge=0, le=100_000, allow_inf_nan=False)]
    memory_bytes: UInt64
    uptime_seconds: Annotated[float, Field(ge=0, le=UINT32_MAX, allow_inf_nan=False)] = 0.0
    buffered_events: UInt32 = 0

    @field_validator("event_time")
    @classmethod
    def _to_utc(cls, value: datetime) -> datetime:
        return value.astimezone(UTC)


def _agent_message_kind(value: Any) -> str:
    kind = value.get("kind") if isinstance(value, dict) else getattr(value, "kind", None)
    return "health" if kind == "health" else "usage"


AgentMessage = Annotated[
    Annotated[AgentUsageEvent, Tag("usage")] | Annotated[AgentHealthEvent, Tag("health")],
    Discriminator(_agent_message_kind),
]


class AgentUsageEnvelope(BaseModel):
    """Many events in one Kafka message: the cheap way to send an agent's buffer."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    schema_version: AgentSchemaVersion = AGENT_SCHEMA_VERSION
    events: Annotated[list[AgentMessage], Field(min_length=1, max_length=10_000)]
