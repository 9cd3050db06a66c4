"""Faults a scenario injects: a broker of its own to stop and start, poison of every known kind."""

from __future__ import annotations

import os
import subprocess
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path

import orjson

from tests.integration.harness import REPO, free_port

KAFKA_SH = REPO / "deploy" / "local" / "kafka.sh"
WEEK = 7 * 86_400
YEAR_1_EAST = "0001-01-01T00:00:00+14:00"


@dataclass(frozen=True)
class PrivateBroker:
    """A plain single-node broker on its own ports and state dir (the cached jars are shared), so a
    scenario may stop it under load without touching the broker the other tests share."""

    state_dir: Path
    port: int
    controller_port: int

    @classmethod
    def start(cls, state_dir: Path) -> PrivateBroker:
        port = free_port()
        controller = free_port()
        while controller == port:
            controller = free_port()
        broker = cls(state_dir, port, controller)
        broker.up()
        return broker

    @property
    def bootstrap(self) -> str:
        return f"127.0.0.1:{self.port}"

    def up(self) -> None:
        self._kafka_sh("up")

    def down(self) -> None:
        self._kafka_sh("down")

    def _kafka_sh(self, command: str) -> None:
        env = {
            **os.environ,
            "SEATMETER_KAFKA_DIR": str(self.state_dir),
            "SEATMETER_KAFKA_PORT": str(self.port),
            "SEATMETER_KAFKA_CONTROLLER_PORT": str(self.controller_port),
        }
        done = subprocess.run(["bash", str(KAFKA_SH), command], env=env, capture_output=True, text=True, timeout=150)
        if done.returncode != 0:
            raise RuntimeError(f"kafka.sh {command} failed:\n{done.stdout}\n{done.stderr}")


def sample_event(device: str, event_id: str, minutes_ago: float, **overrides: object) -> dict[str, object]:
    """A valid agent sample of 30 s ending ``minutes_ago`` minutes before now, changed by ``overrides``."""
    end = datetime.now(UTC).replace(second=30, microsecond=0) - timedelta(minutes=minutes_ago)
    body: dict[str, object] = {
        "event_id": event_id,
        "event_time": end.isoformat(),
        "device_id": device,
        "user": "CORP\\poison",
        "executable": {"path": "C:\\Apps\\tool.exe", "file_name": "tool.exe"},
        "kind": "sample",
        "active_seconds": 20,
        "idle_seconds": 10,
        "interval_seconds": 30,
    }
    return body | overrides


def poison_messages(device: str) -> dict[str, bytes]:
    """One of each kind issue 12 found, each of which once stopped a worker for good."""
    health = {
        "event_id": "poison-health",
        "kind": "health",
        "event_time": datetime.now(UTC).isoformat(),
        "device_id": device,
        "agent_version": "2.0.0",
        "buffered_events": 2**32,
    }
    return {
        "900 KB that is not JSON": b"\x01not json " * 90_000,
        "an envelope of 20,000 events": orjson.dumps(
            {"events": [sample_event(device, f"poison-big-{i}", 3) for i in range(20_000)]}
        ),
        "buffered_events past UInt32": orjson.dumps(health),
        "year 1 east of UTC": orjson.dumps(sample_event(device, "poison-year-1", 0, event_time=YEAR_1_EAST)),
        "100 samples of 7 days each": orjson.dumps(
            {
                "events": [
                    sample_event(
                        device, f"poison-week-{i}", 1, interval_seconds=WEEK, active_seconds=WEEK, idle_seconds=0
                    )
                    for i in range(100)
                ]
            }
        ),
    }
