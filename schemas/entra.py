"""Microsoft Entra sign-in logs as Azure Monitor diagnostic settings stream them to an Event Hub.

Each Event Hubs message body is ``{"records": [...]}``; a record carries Azure Monitor's common
fields (``time``, ``category``, ``resultType``...) and the sign-in itself under ``properties``,
shaped like Microsoft Graph's ``signIn`` resource. Microsoft adds fields over time, so unknown
fields are ignored rather than refused; only what Seatmeter reads is required. Result codes are
read strictly (a JSON ``false`` is not the success code 0).
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Annotated, Any

from pydantic import BaseModel, ConfigDict, Field, StrictInt, field_validator
from pydantic.alias_generators import to_camel

from schemas.bounds import EventTime


class EntraModel(BaseModel):
    """Azure's camelCase JSON, read into snake_case attributes; unknown fields are tolerated."""

    model_config = ConfigDict(frozen=True, extra="ignore", alias_generator=to_camel)


def _utc(value: datetime | None) -> datetime | None:
    return None if value is None else value.astimezone(UTC)


class EntraSignInStatus(EntraModel):
    """``errorCode`` 0 is success; anything else (50126 bad password, 50140 interrupt...) is not."""

    error_code: StrictInt | str | None = None
    failure_reason: str | None = None
    additional_details: str | None = None


class EntraDeviceDetail(EntraModel):
    """The device as Entra knows it; ``deviceId`` is empty for devices not registered with Entra."""

    device_id: str | None = None
    display_name: str | None = None
    operating_system: str | None = None
    browser: str | None = None
    is_compliant: bool | None = None
    is_managed: bool | None = None
    trust_type: str | None = None


class EntraSignInProperties(EntraModel):
    """The sign-in itself. ``appDisplayName`` names the client app the user signed in to;
    ``resourceDisplayName`` names the API it asked a token for."""

    id: Annotated[str, Field(min_length=1)]
    created_date_time: EventTime | None = None
    user_display_name: str | None = None
    user_principal_name: str | None = None
    user_id: str | None = None
    app_id: str | None = None
    app_display_name: str | None = None
    ip_address: str | None = None
    client_app_used: str | None = None
    status: EntraSignInStatus | None = None
    device_detail: EntraDeviceDetail | None = None
    resource_display_name: str | None = None
    resource_id: str | None = None
    is_interactive: bool | None = None

    @field_validator("created_date_time")
    @classmethod
    def _to_utc(cls, value: datetime | None) -> datetime | None:
        return _utc(value)


class EntraSignInRecord(EntraModel):
    """One record of a sign-in category. ``resultType`` is ``"0"`` for success, else the error code."""

    time: EventTime | None = None
    resource_id: str | None = None
    operation_name: str | None = None
    operation_version: str | None = None
    category: str
    tenant_id: str | None = None
    result_type: StrictInt | str | None = None
    result_signature: str | None = None
    result_description: str | None = None
    duration_ms: int | None = None
    caller_ip_address: str | None = None
    correlation_id: str | None = None
    identity: str | None = None
    level: int | str | None = Field(default=None, alias="Level")
    location: str | None = None
    properties: EntraSignInProperties

    @field_validator("time")
    @classmethod
    def _to_utc(cls, value: datetime | None) -> datetime | None:
        return _utc(value)


class EntraEventHubBody(EntraModel):
    """One Event Hubs message from Azure Monitor; records of any category, judged one by one."""

    records: list[Any]
