"""Typed configuration, read once from ``SEATMETER_*`` environment variables.

Nested settings use ``__``: ``SEATMETER_WAREHOUSE__URL``, ``SEATMETER_KAFKA__BOOTSTRAP_SERVERS``.
Every field is documented in the README's configuration table.
"""

from __future__ import annotations

from pathlib import Path
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, SecretStr
from pydantic_settings import BaseSettings, SettingsConfigDict

STATE_DIR = Path(".seatmeter")


def _default_warehouse_url() -> str:
    return f"chdb://{(Path.cwd() / STATE_DIR / 'warehouse').resolve()}"


class _Section(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")


class KafkaSettings(_Section):
    """Where the broker is and which topics carry what."""

    bootstrap_servers: str = "localhost:9092"
    agent_topic: str = "seatmeter.agent-usage"
    dead_letter_suffix: str = ".dlq"
    topic_partitions: int = Field(default=4, ge=1)
    replication_factor: int = Field(default=1, ge=1)

    @property
    def agent_dead_letter_topic(self) -> str:
        return self.agent_topic + self.dead_letter_suffix


class WarehouseSettings(_Section):
    """The ClickHouse warehouse: ``chdb://PATH`` (embedded) or ``http(s)://HOST:PORT`` (server)."""

    url: str = Field(default_factory=_default_warehouse_url)
    username: str = "default"
    password: SecretStr = SecretStr("")
    database: str = "default"
    insert_retries: int = Field(default=8, ge=0)
    retry_backoff_max_seconds: float = Field(default=30.0, gt=0)


class WorkerSettings(_Section):
    """The Faust worker: batching, commits and local state."""

    app_id: str = "seatmeter"
    data_dir: Path = STATE_DIR / "worker"
    batch_max_messages: int = Field(default=5_000, ge=1)
    batch_max_seconds: float = Field(default=1.0, gt=0)
    commit_interval_seconds: float = Field(default=2.0, gt=0)
    session_timeout_seconds: float = Field(default=30.0, ge=6)
    log_level: Literal["debug", "info", "warning", "error"] = "info"


class PrivacySettings(_Section):
    """How user identities are pseudonymized at ingest.

    Without ``pseudonym_key`` a random key is made once and kept in ``pseudonym_key_file``:
    fine for one machine, but workers that share a warehouse must share one key (set it).
    """

    pseudonym_key: SecretStr | None = None
    pseudonym_key_id: str = "k1"
    pseudonym_key_file: Path = STATE_DIR / "pseudonym.key"


class MetricsSettings(_Section):
    """The Prometheus endpoint the worker serves."""

    enabled: bool = True
    host: str = "0.0.0.0"  # noqa: S104 - scraped from other containers
    port: int = Field(default=9321, ge=0, le=65535)


class Settings(BaseSettings):
    """All of Seatmeter's configuration; build once with ``Settings()`` and pass it down."""

    model_config = SettingsConfigDict(
        env_prefix="SEATMETER_",
        env_nested_delimiter="__",
        frozen=True,
        extra="ignore",
    )

    kafka: KafkaSettings = Field(default_factory=KafkaSettings)
    warehouse: WarehouseSettings = Field(default_factory=WarehouseSettings)
    worker: WorkerSettings = Field(default_factory=WorkerSettings)
    privacy: PrivacySettings = Field(default_factory=PrivacySettings)
    metrics: MetricsSettings = Field(default_factory=MetricsSettings)
