"""Typed configuration, read once from ``SEATMETER_*`` environment variables.

Nested settings use ``__``: ``SEATMETER_WAREHOUSE__URL``, ``SEATMETER_KAFKA__BOOTSTRAP_SERVERS``.
Every field is documented in the README's configuration table.
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, SecretStr, ValidationInfo, field_validator, model_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

from schemas.catalog import LicenseModel
from schemas.usage import Environment

STATE_DIR = Path(".seatmeter")
CLUSTER_NAME = re.compile(r"^(?:[A-Za-z0-9_][A-Za-z0-9_.-]*|\{[A-Za-z0-9_]+\})$")
"""A cluster as ``remote_servers`` names it, or a macro such as ``{cluster}`` that expands to one."""


def _default_warehouse_url() -> str:
    return f"chdb://{(Path.cwd() / STATE_DIR / 'warehouse').resolve()}"


class _Section(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")


SecurityProtocol = Literal["PLAINTEXT", "SSL", "SASL_PLAINTEXT", "SASL_SSL"]
SaslMechanism = Literal["PLAIN", "SCRAM-SHA-256", "SCRAM-SHA-512"]


class KafkaSettings(_Section):
    """Where the broker is, how to authenticate to it, and which topics carry what.

    Every Kafka client Seatmeter makes uses the same security settings. ``SSL`` and ``SASL_SSL``
    verify the broker against ``ssl_cafile`` or, without it, the system's CAs; a client
    certificate (mutual TLS) needs both ``ssl_certfile`` and ``ssl_keyfile``.
    """

    model_config = ConfigDict(frozen=True, extra="forbid", hide_input_in_errors=True)

    bootstrap_servers: str = "localhost:9092"
    security_protocol: SecurityProtocol = "PLAINTEXT"
    sasl_mechanism: SaslMechanism = "PLAIN"
    sasl_username: str = ""
    sasl_password: SecretStr = SecretStr("")
    ssl_cafile: Path | None = None
    ssl_certfile: Path | None = None
    ssl_keyfile: Path | None = None
    ssl_key_password: SecretStr = SecretStr("")
    agent_topic: str = "seatmeter.agent-usage"
    osquery_topic: str = "seatmeter.osquery-results"
    okta_topic: str = "seatmeter.okta-system-log"
    entra_topic: str = "seatmeter.entra-signins"
    inventory_topic: str = "seatmeter.inventory"
    entitlements_topic: str = "seatmeter.entitlements"
    directory_topic: str = "seatmeter.directory"
    dead_letter_suffix: str = ".dlq"
    late_suffix: str = ".late"
    topic_partitions: int = Field(default=4, ge=1)
    replication_factor: int = Field(default=1, ge=1)
    # The producer's max request size and the max.message.bytes of every topic Seatmeter creates.
    max_message_bytes: int = Field(default=1 << 20, ge=64 << 10)
    fetch_bytes_per_partition: int = Field(default=8 << 20, ge=64 << 10)
    """How much the consumer fetches per partition and request (never less than a message): a
    worker busy with a batch refills from this buffer instead of waiting on the broker."""

    @model_validator(mode="after")
    def _security_is_complete(self) -> KafkaSettings:
        problem = _security_problem(self)
        if problem:
            raise ValueError(problem)
        return self

    @property
    def uses_sasl(self) -> bool:
        return self.security_protocol.startswith("SASL_")

    @property
    def uses_tls(self) -> bool:
        return self.security_protocol.endswith("SSL")

    @property
    def usage_topics(self) -> tuple[str, ...]:
        return (self.agent_topic, self.osquery_topic, self.okta_topic, self.entra_topic)

    @property
    def reference_topics(self) -> tuple[str, ...]:
        return (self.inventory_topic, self.entitlements_topic, self.directory_topic)

    @property
    def agent_dead_letter_topic(self) -> str:
        return self.agent_topic + self.dead_letter_suffix


def _security_problem(kafka: KafkaSettings) -> str | None:
    """What makes the security settings unusable, caught at start rather than as a refused
    connection later; ``None`` when they fit together."""
    files = {"ssl_cafile": kafka.ssl_cafile, "ssl_certfile": kafka.ssl_certfile, "ssl_keyfile": kafka.ssl_keyfile}
    given = {name: path for name, path in files.items() if path is not None}
    if kafka.uses_sasl and not (kafka.sasl_username and kafka.sasl_password.get_secret_value()):
        return f"security_protocol {kafka.security_protocol} needs sasl_username and sasl_password"
    if given and not kafka.uses_tls:
        return f"{', '.join(given)} set but security_protocol {kafka.security_protocol} does not use TLS"
    if (kafka.ssl_certfile is None) != (kafka.ssl_keyfile is None):
        return "a client certificate needs both ssl_certfile and ssl_keyfile (they may name the same file)"
    if kafka.ssl_key_password.get_secret_value() and kafka.ssl_keyfile is None:
        return "ssl_key_password set without ssl_keyfile"
    missing = [f"{name} {path}" for name, path in given.items() if not path.is_file()]
    return f"no such file: {', '.join(missing)}" if missing else None


class WarehouseSettings(_Section):
    """The ClickHouse warehouse: ``chdb://PATH`` (embedded) or ``http(s)://HOST:PORT`` (server)."""

    url: str = Field(default_factory=_default_warehouse_url)
    username: str = "default"
    password: SecretStr = SecretStr("")
    database: str = "default"
    insert_retries: int = Field(default=8, ge=0)
    retry_backoff_max_seconds: float = Field(default=30.0, gt=0)
    insert_give_up_seconds: float = Field(default=600.0, ge=0)
    """A failing insert is retried at least ``insert_retries`` times and for at least this long
    before the worker exits without acking: a shorter warehouse outage is ridden out."""
    cluster: str = ""
    """The ClickHouse cluster the warehouse spans, a name from the servers' ``remote_servers`` (or a
    macro such as ``{cluster}``); empty for one server. Set, the migrations make replicated local
    tables, Distributed tables over them and views, all ``ON CLUSTER`` (see docs/scaling.md)."""

    @field_validator("cluster")
    @classmethod
    def _cluster_is_usable(cls, cluster: str, info: ValidationInfo) -> str:
        if cluster and not CLUSTER_NAME.match(cluster):
            raise ValueError(
                f"{cluster!r} is no cluster name: use letters, digits, '_', '.', '-' or a macro, {{cluster}}"
            )
        if cluster and str(info.data.get("url", "")).startswith("chdb:"):
            raise ValueError("a cluster needs a ClickHouse server URL: the embedded engine (chdb://) is one server")
        return cluster


class WorkerSettings(_Section):
    """The Faust worker: batching, commits and local state."""

    app_id: str = "seatmeter"
    data_dir: Path = STATE_DIR / "worker"
    batch_max_messages: int = Field(default=5_000, ge=1)
    batch_max_seconds: float = Field(default=1.0, gt=0)
    commit_interval_seconds: float = Field(default=2.0, gt=0)
    session_timeout_seconds: float = Field(default=30.0, ge=6)
    stall_timeout_seconds: float = Field(default=120.0, gt=0)
    shutdown_timeout_seconds: float = Field(default=45.0, gt=0)
    """After SIGTERM the worker finishes the batch in hand and closes its Kafka clients; past
    this long it exits anyway (keep it below the orchestrator's grace period, 60 s in the chart)."""
    gc_young_threshold: int = Field(default=50_000, ge=0)
    """Allocations between collections of the interpreter's youngest generation (0 keeps its
    default of 700). A batch allocates hundreds of thousands of short-lived objects, almost none
    in cycles; at 700 the collector ran often enough to take about a quarter of the worker's time."""
    fill_offset_gaps: bool = True
    duplicate_check_seconds: float = Field(default=300.0, gt=0)
    log_level: Literal["debug", "info", "warning", "error"] = "info"


class IngestSettings(_Section):
    """The rules at the door: sizes, clock sanity, and the cap on invalid input."""

    max_message_bytes: int = Field(default=1 << 20, ge=1024)
    max_event_bytes: int = Field(default=64 << 10, ge=256)
    osquery_interval_seconds: float = Field(default=900.0, gt=0)
    allowed_clock_skew_seconds: float = Field(default=300.0, ge=0)
    allowed_lateness_seconds: float = Field(default=7 * 86_400.0, gt=0)
    invalid_ratio_max: float = Field(default=0.5, ge=0, le=1)
    invalid_ratio_window: int = Field(default=1000, ge=1)
    poison_attempts: int = Field(default=3, ge=1)
    max_events_per_message: int = Field(default=10_000, ge=1, le=10_000)
    max_event_span_minutes: int = Field(default=1440, ge=1)
    max_rows_per_message: int = Field(default=20_000, ge=1)
    max_rows_per_batch: int = Field(default=200_000, ge=1)


class ScopeSettings(_Section):
    """What is monitored. Lists are JSON in the environment, e.g. ``'["keepass.exe"]'``.

    Excluded events are dropped before anything is stored and only counted in metrics.
    Departments come from the directory (``seatmeter import directory``), matched on the
    attributed user's pseudonym and re-read every ``directory_refresh_seconds``.
    """

    exclude_applications: tuple[str, ...] = ()
    include_environments: tuple[Environment, ...] = ()
    exclude_environments: tuple[Environment, ...] = ()
    include_device_groups: tuple[str, ...] = ()
    exclude_device_groups: tuple[str, ...] = ()
    include_departments: tuple[str, ...] = ()
    exclude_departments: tuple[str, ...] = ()
    directory_refresh_seconds: float = Field(default=300.0, gt=0)

    @property
    def uses_departments(self) -> bool:
        return bool(self.include_departments or self.exclude_departments)


class CatalogSettings(_Section):
    """Corrections to the product catalog (a local file, and a compacted topic every worker reads
    whole), and what the shadow-IT report counts as approved.

    Products whose every license hint is in ``exempt_license_models`` are never listed as
    unapproved: free and open-source tools would otherwise bury the software that costs money.
    """

    overrides_file: Path = STATE_DIR / "catalog-overrides.yaml"
    reload_check_seconds: float = Field(default=5.0, gt=0)
    topic: str = "seatmeter.catalog-overrides"
    approved_file: Path = STATE_DIR / "approved-software.yaml"
    exempt_license_models: tuple[LicenseModel, ...] = ("free", "open_source")


class ProductSessionRule(_Section):
    """Per-product overrides of the session rules; unset fields take the global value."""

    gap_minutes: float | None = Field(default=None, gt=0)
    min_active_seconds: float | None = Field(default=None, ge=0)
    weekly_active_minutes: float | None = Field(default=None, ge=0)


class SessionSettings(_Section):
    """How observations become sessions, and when a session or a week counts as use.

    ``products`` maps canonical product names to overrides, as JSON in the environment, e.g.
    ``'{"Microsoft Excel": {"gap_minutes": 60}}'``. The thresholds form a definition whose
    version every session row records, so a report can say which definition it used.
    """

    gap_minutes: float = Field(default=30.0, gt=0)
    min_active_seconds: float = Field(default=60.0, ge=0)
    weekly_active_minutes: float = Field(default=30.0, ge=0)
    products: dict[str, ProductSessionRule] = Field(default_factory=dict)


class AlertSettings(_Section):
    """When license-pool and sync-gap alerts open and resolve, and where else they go.

    ``sync_gap_hours_by_source`` maps a source (a usage topic, or ``agent:<device group>``) to
    its own threshold, as JSON. Silence during ``quiet_weekdays`` (ISO numbers, 6 = Saturday,
    7 = Sunday) is expected and does not count towards a gap.
    """

    topic: str = "seatmeter.alerts"
    evaluate_every_seconds: float = Field(default=15.0, gt=0)
    overrun_open_minutes: int = Field(default=5, ge=1)
    overrun_resolve_minutes: int = Field(default=5, ge=1)
    named_user_window_days: int = Field(default=30, ge=1)
    sync_gap_hours: float = Field(default=24.0, gt=0)
    sync_gap_hours_by_source: dict[str, float] = Field(default_factory=dict)
    quiet_weekdays: tuple[int, ...] = (6, 7)
    webhook_url: SecretStr | None = None
    webhook_timeout_seconds: float = Field(default=5.0, gt=0)


class PrivacySettings(_Section):
    """How user identities are pseudonymized at ingest.

    Without ``pseudonym_key`` a random key is made once and kept in ``pseudonym_key_file``:
    fine for one machine, but workers that share a warehouse must share one key (set it).
    ``store_raw_identities`` keeps dead-letter and late-event payloads as sent instead of sealed.
    ``pseudonymize_users=False`` stores user identities (case-folded) instead of pseudonyms.
    """

    pseudonym_key: SecretStr | None = None
    pseudonym_key_id: str = "k1"
    pseudonym_key_file: Path = STATE_DIR / "pseudonym.key"
    store_raw_identities: bool = False
    pseudonymize_users: bool = True


class MetricsSettings(_Section):
    """The Prometheus endpoint the worker serves: loopback only unless ``host`` says otherwise
    (the compose file and the Helm chart set ``0.0.0.0`` so that Prometheus can scrape it)."""

    enabled: bool = True
    host: str = "127.0.0.1"
    port: int = Field(default=9321, ge=0, le=65535)


class Settings(BaseSettings):
    """All of Seatmeter's configuration; build once with ``Settings()`` and pass it down."""

    model_config = SettingsConfigDict(
        env_prefix="SEATMETER_",
        env_nested_delimiter="__",
        frozen=True,
        extra="ignore",
        # An error would otherwise print the section's input, passwords included.
        hide_input_in_errors=True,
    )

    kafka: KafkaSettings = Field(default_factory=KafkaSettings)
    warehouse: WarehouseSettings = Field(default_factory=WarehouseSettings)
    worker: WorkerSettings = Field(default_factory=WorkerSettings)
    ingest: IngestSettings = Field(default_factory=IngestSettings)
    scope: ScopeSettings = Field(default_factory=ScopeSettings)
    catalog: CatalogSettings = Field(default_factory=CatalogSettings)
    sessions: SessionSettings = Field(default_factory=SessionSettings)
    alerts: AlertSettings = Field(default_factory=AlertSettings)
    privacy: PrivacySettings = Field(default_factory=PrivacySettings)
    metrics: MetricsSettings = Field(default_factory=MetricsSettings)
