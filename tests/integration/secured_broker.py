"""A second real broker with SASL and TLS listeners, started by ``deploy/local/kafka.sh`` with
``SEATMETER_KAFKA_SECURE=1`` on its own ports and state dir (the cached jars are shared)."""

from __future__ import annotations

import os
import subprocess
from dataclasses import dataclass
from pathlib import Path

from schemas.settings import KafkaSettings
from tests.integration.harness import REPO, free_port

KAFKA_SH = REPO / "deploy" / "local" / "kafka.sh"
USER = "seatmeter-it"
PASSWORD = "it-sasl-secret"  # noqa: S105 - test-only credentials of a throwaway loopback broker
KEY_PASSWORD = "it-key-secret"  # noqa: S105


@dataclass(frozen=True)
class SecuredBroker:
    state_dir: Path
    ports: dict[str, int]

    @property
    def ca_file(self) -> Path:
        return self.state_dir / "tls" / "ca.pem"

    def env(self, protocol: str, mechanism: str = "PLAIN", password: str = PASSWORD) -> dict[str, str]:
        """Seatmeter's settings for one listener, as a worker or the CLI reads them."""
        env = {
            "SEATMETER_KAFKA__BOOTSTRAP_SERVERS": f"127.0.0.1:{self.ports[protocol]}",
            "SEATMETER_KAFKA__SECURITY_PROTOCOL": protocol,
        }
        if protocol.startswith("SASL_"):
            env |= {
                "SEATMETER_KAFKA__SASL_MECHANISM": mechanism,
                "SEATMETER_KAFKA__SASL_USERNAME": USER,
                "SEATMETER_KAFKA__SASL_PASSWORD": password,
            }
        if protocol.endswith("SSL"):
            env["SEATMETER_KAFKA__SSL_CAFILE"] = str(self.ca_file)
        if protocol == "SSL":
            tls = self.state_dir / "tls"
            env |= {
                "SEATMETER_KAFKA__SSL_CERTFILE": str(tls / "client.pem"),
                "SEATMETER_KAFKA__SSL_KEYFILE": str(tls / "client.key"),
                "SEATMETER_KAFKA__SSL_KEY_PASSWORD": KEY_PASSWORD,
            }
        return env

    def settings(self, protocol: str, mechanism: str = "PLAIN", **topics: str) -> KafkaSettings:
        fields = {k.removeprefix("SEATMETER_KAFKA__").lower(): v for k, v in self.env(protocol, mechanism).items()}
        return KafkaSettings.model_validate({**fields, **topics})


def start(state_dir: Path) -> SecuredBroker:
    names = ("PLAINTEXT", "CONTROLLER", "SASL_PLAINTEXT", "SASL_SSL", "SSL")
    chosen: set[int] = set()
    while len(chosen) < len(names):
        chosen.add(free_port())
    ports = dict(zip(names, sorted(chosen), strict=True))
    broker = SecuredBroker(state_dir, ports)
    _kafka_sh(broker, "up")
    return broker


def stop(broker: SecuredBroker) -> None:
    _kafka_sh(broker, "down")


def _kafka_sh(broker: SecuredBroker, command: str) -> None:
    env = {
        **os.environ,
        "SEATMETER_KAFKA_SECURE": "1",
        "SEATMETER_KAFKA_DIR": str(broker.state_dir),
        "SEATMETER_KAFKA_PORT": str(broker.ports["PLAINTEXT"]),
        "SEATMETER_KAFKA_CONTROLLER_PORT": str(broker.ports["CONTROLLER"]),
        "SEATMETER_KAFKA_SASL_PORT": str(broker.ports["SASL_PLAINTEXT"]),
        "SEATMETER_KAFKA_SASL_SSL_PORT": str(broker.ports["SASL_SSL"]),
        "SEATMETER_KAFKA_SSL_PORT": str(broker.ports["SSL"]),
        "SEATMETER_KAFKA_SASL_USER": USER,
        "SEATMETER_KAFKA_SASL_PASSWORD": PASSWORD,
        "SEATMETER_KAFKA_CLIENT_KEY_PASSWORD": KEY_PASSWORD,
    }
    done = subprocess.run(["bash", str(KAFKA_SH), command], env=env, capture_output=True, text=True, timeout=150)
    if done.returncode != 0:
        raise RuntimeError(f"kafka.sh {command} failed:\n{done.stdout}\n{done.stderr}")
