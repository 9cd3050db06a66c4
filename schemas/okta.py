"""Okta System Log events (``LogEvent``) as the System Log API, Log Streaming and Event Hooks deliver them.

Field names follow Okta's documented LogEvent object. Okta adds fields over time, so unknown fields
are ignored rather than refused; only what Seatmeter reads is required. Nested objects that Okta
documents as nullable are optional here.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator
from pydantic.alias_generators import to_camel

from schemas.bounds import EventTime

EVENT_HOOK_EVENT_TYPE = "com.okta.event_hook"

Text = Annotated[str, Field(min_length=1)]


class OktaModel(BaseModel):
    """Okta's camelCase JSON, read into snake_case attributes; unknown fields are tolerated."""

    model_config = ConfigDict(frozen=True, extra="ignore", alias_generator=to_camel)


class OktaActor(OktaModel):
    """Who performed the action; for sign-ins, the Okta user (``alternateId`` is the login)."""

    id: str
    type: str
    alternate_id: str | None = None
    display_name: str | None = None
    detail_entry: dict[str, Any] | None = None


class OktaUserAgent(OktaModel):
    raw_user_agent: str | None = None
    os: str | None = None
    browser: str | None = None


class OktaGeolocation(OktaModel):
    lat: float | None = None
    lon: float | None = None


class OktaGeographicalContext(OktaModel):
    city: str | None = None
    state: str | None = None
    country: str | None = None
    postal_code: str | None = None
    geolocation: OktaGeolocation | None = None


class OktaClient(OktaModel):
    """The HTTP client behind the event; empty when Okta itself acted."""

    id: str | None = None
    user_agent: OktaUserAgent | None = None
    geographical_context: OktaGeographicalContext | None = None
    zone: str | None = None
    ip_address: str | None = None
    device: str | None = None


class OktaOutcome(OktaModel):
    """``result`` is one of SUCCESS, FAILURE, SKIPPED, ALLOW, DENY, CHALLENGE, UNKNOWN."""

    result: str
    reason: str | None = None


class OktaTarget(OktaModel):
    """What the action was performed on; an SSO event names the app as an ``AppInstance`` target."""

    id: str
    type: str
    alternate_id: str | None = None
    display_name: str | None = None
    detail_entry: dict[str, Any] | None = None


class OktaIssuer(OktaModel):
    id: str | None = None
    type: str | None = None


class OktaAuthenticationContext(OktaModel):
    authentication_provider: str | None = None
    authentication_step: int | None = None
    credential_provider: str | None = None
    credential_type: str | None = None
    issuer: OktaIssuer | None = None
    external_session_id: str | None = None
    interface: str | None = None


class OktaDebugContext(OktaModel):
    """Okta says these keys are a debugging aid, not a contract: nothing here is relied upon."""

    debug_data: dict[str, Any] | None = None


class OktaTransaction(OktaModel):
    id: str | None = None
    type: str | None = None
    detail: dict[str, Any] | None = None


class OktaLogEvent(OktaModel):
    """One System Log event. ``published`` must carry a UTC offset and is normalized to UTC."""

    uuid: Text
    published: EventTime
    event_type: Text
    version: str | None = None
    severity: str | None = None
    legacy_event_type: str | None = None
    display_message: str | None = None
    actor: OktaActor | None = None
    client: OktaClient | None = None
    outcome: OktaOutcome | None = None
    target: list[OktaTarget] | None = None
    transaction: OktaTransaction | None = None
    debug_context: OktaDebugContext | None = None
    authentication_context: OktaAuthenticationContext | None = None

    @field_validator("published")
    @classmethod
    def _to_utc(cls, value: datetime) -> datetime:
        return value.astimezone(UTC)


class OktaEventHookData(OktaModel):
    """The events of one delivery; each item is a LogEvent, judged on its own."""

    events: list[Any]


class OktaEventHookDelivery(OktaModel):
    """The body of an Event Hook POST: ``data.events`` holds LogEvents, possibly several."""

    event_type: Literal["com.okta.event_hook"]
    event_id: str | None = None
    event_time: str | None = None
    data: OktaEventHookData
