"""The normalized usage event: what every source's decoder produces, whatever its wire format.

Decoders (agent, osquery, Okta, Entra, ...) validate their own formats with pydantic and emit
these plain values; every later stage reads only these. ``user`` is still the raw identity
here: the ingest stage replaces it with a pseudonym before anything leaves the worker.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from enum import StrEnum


class UsageSource(StrEnum):
    """Which kind of producer an event came from; a source instance names the integration."""

    AGENT = "agent"
    OSQUERY = "osquery"
    OKTA = "okta"
    ENTRA = "entra"


class UsageKind(StrEnum):
    """``start``/``stop`` bracket a process; ``sample`` reports an interval of measured use;
    ``snapshot`` says a process was seen running by a poll (use inside the polling interval is
    unknown); ``signin`` is a single sign-on into a SaaS app."""

    START = "start"
    SAMPLE = "sample"
    STOP = "stop"
    SNAPSHOT = "snapshot"
    SIGNIN = "signin"


class SessionType(StrEnum):
    """How the person reached the desktop the process runs on; remote use is attributed to
    ``originating_user``."""

    CONSOLE = "console"
    RDP = "rdp"
    CITRIX = "citrix"
    SSH = "ssh"
    VDI = "vdi"
    UNKNOWN = "unknown"


class Environment(StrEnum):
    PRODUCTION = "production"
    DEVELOPMENT = "development"
    TEST = "test"
    UNKNOWN = "unknown"


@dataclass(frozen=True, slots=True)
class ExecutableRef:
    """A program as the endpoint saw it; the fields fingerprinting matches on."""

    path: str
    file_name: str
    publisher: str | None = None
    product_name: str | None = None
    version: str | None = None
    sha256: str | None = None


@dataclass(frozen=True, slots=True)
class SaasAppRef:
    """A SaaS application as a sign-in log names it."""

    name: str
    url: str | None = None
    app_id: str | None = None


@dataclass(frozen=True, slots=True)
class UsageEvent:
    """One observation of use, normalized.

    ``event_id`` is unique per observation at its source; sources without ids get a
    deterministic one derived from the observation, so a re-sent log line is recognized.
    ``active_seconds``/``idle_seconds`` are ``None`` when the source cannot tell (polls,
    sign-ins). Exactly one of ``executable`` and ``saas_app`` is set.
    """

    event_id: str
    source: UsageSource
    source_instance: str
    event_time: datetime
    user: str
    kind: UsageKind
    executable: ExecutableRef | None = None
    saas_app: SaasAppRef | None = None
    device_id: str | None = None
    device_timezone: str | None = None
    originating_user: str | None = None
    session_type: SessionType = SessionType.UNKNOWN
    environment: Environment = Environment.UNKNOWN
    device_group: str | None = None
    interval_seconds: float = 0.0
    active_seconds: float | None = None
    idle_seconds: float | None = None

    @property
    def attributed_user(self) -> str:
        """The person the use counts for: whoever connected, for remote sessions."""
        return self.originating_user or self.user


@dataclass(frozen=True, slots=True)
class AgentHealth:
    """An agent's own resource figures at a moment; kept apart from usage."""

    event_id: str
    device_id: str
    event_time: datetime
    agent_version: str
    cpu_percent: float
    memory_bytes: int
    uptime_seconds: float
    buffered_events: int
