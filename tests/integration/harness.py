"""Drive the real system from tests: worker processes, the CLI, the broker, kcat."""

from __future__ import annotations

import asyncio
import os
import signal
import socket
import subprocess
import sys
import time
import urllib.request
import uuid
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any

import orjson
from aiokafka import AIOKafkaConsumer
from aiokafka.admin import AIOKafkaAdminClient
from aiokafka.structs import TopicPartition

from schemas.settings import KafkaSettings
from sinks.kafka.client import topic_partitions
from sinks.kafka.security import client_options

REPO = Path(__file__).resolve().parents[2]
SEATMETER = str(Path(sys.executable).parent / "seatmeter")
EX_TEMPFAIL = 75
BOOTSTRAP = os.environ.get("SEATMETER_KAFKA__BOOTSTRAP_SERVERS", "127.0.0.1:9092")
KAFKA = KafkaSettings(bootstrap_servers=BOOTSTRAP)
# The markers of the integration test now running (tests/integration/conftest.py sets them); None
# outside pytest (the benchmark, the soak), where nothing is checked.
running_test_markers: frozenset[str] | None = None


def needs(*markers: str) -> None:
    """Fail a test that reaches the broker or the engine without the marker that says so."""
    missing = [marker for marker in markers if running_test_markers is not None and marker not in running_test_markers]
    if missing:
        raise AssertionError(
            f"this test needs {' and '.join(missing)}: mark it " + ", ".join(f"pytest.mark.{m}" for m in missing)
        )


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def broker_reachable() -> bool:
    host, port = BOOTSTRAP.split(",")[0].rsplit(":", 1)
    try:
        with socket.create_connection((host, int(port)), timeout=2):
            return True
    except OSError:
        return False


@dataclass
class Pipeline:
    """One isolated pipeline: its own topics, consumer group, warehouse and worker state."""

    root: Path
    warehouse_url: str
    name: str = field(default_factory=lambda: f"it-{uuid.uuid4().hex[:10]}")
    metrics_port: int = field(default_factory=free_port)
    extra_env: dict[str, str] = field(default_factory=dict)

    @property
    def topic(self) -> str:
        return f"{self.name}.agent-usage"

    @property
    def env(self) -> dict[str, str]:
        env = {k: v for k, v in os.environ.items() if not k.startswith("SEATMETER_")}
        env.update(
            {
                "SEATMETER_KAFKA__BOOTSTRAP_SERVERS": BOOTSTRAP,
                "SEATMETER_KAFKA__AGENT_TOPIC": self.topic,
                "SEATMETER_WORKER__APP_ID": self.name,
                "SEATMETER_WORKER__DATA_DIR": str(self.root / "worker"),
                "SEATMETER_WORKER__BATCH_MAX_SECONDS": "0.5",
                "SEATMETER_WAREHOUSE__URL": self.warehouse_url,
                "SEATMETER_WAREHOUSE__PASSWORD": "it-secret",
                "SEATMETER_PRIVACY__PSEUDONYM_KEY": "integration-test-key",
                "SEATMETER_METRICS__PORT": str(self.metrics_port),
                "SEATMETER_METRICS__HOST": "127.0.0.1",
                **self.extra_env,
            }
        )
        return env

    def cli(self, *args: str, timeout: float = 120) -> str:
        done = subprocess.run(
            [SEATMETER, *args], env=self.env, cwd=self.root, capture_output=True, text=True, timeout=timeout
        )
        if done.returncode != 0:
            raise AssertionError(f"seatmeter {' '.join(args)} failed:\n{done.stdout}\n{done.stderr}")
        return done.stdout

    def query(self, sql: str) -> list[dict[str, Any]]:
        needs("clickhouse")
        out = self.cli("sql", "--format", "JSONEachRow", sql)
        return [orjson.loads(line) for line in out.splitlines() if line.strip()]

    def start_worker(self, name: str = "worker") -> Worker:
        """A worker process; give further concurrent workers their own ``name`` (state, port, log)."""
        needs("kafka", "clickhouse")
        env, port = self.env, self.metrics_port
        if name != "worker":
            port = free_port()
            env.update({"SEATMETER_WORKER__DATA_DIR": str(self.root / name), "SEATMETER_METRICS__PORT": str(port)})
        log = (self.root / f"{name}.log").open("ab")
        process = subprocess.Popen([SEATMETER, "worker"], env=env, cwd=self.root, stdout=log, stderr=log)
        return Worker(process, self, port, name)

    def wait_caught_up(self, timeout: float = 180) -> None:
        needs("kafka")
        self.cli("lag", "--wait", "--timeout", str(timeout), timeout=timeout + 30)

    def run_until_caught_up(self, restarts: int = 2) -> None:
        """Start a worker, let it commit everything there is, and stop it cleanly, restarting it
        like an orchestrator would (see ``catch_up``)."""
        worker = self.catch_up(self.start_worker_reaching("seatmeter_messages_consumed_total", 1, restarts), restarts)
        assert worker.stop() == 0

    def catch_up(self, worker: Worker, restarts: int = 2, timeout: float = 180) -> Worker:
        """Wait until everything there is is committed, with ``worker`` running; returns the worker
        that caught up. Like an orchestrator, a worker that stopped itself for a restart (exit 75:
        its stall watchdog fired, as it may after taking over a killed worker's partitions) is
        started again at once, at most ``restarts`` times. On failure the error carries its stacks."""
        for attempt in range(restarts + 1):
            deadline = time.monotonic() + timeout
            while time.monotonic() < deadline and worker.process.poll() is None:
                try:
                    self.wait_caught_up(timeout=max(1.0, min(15.0, deadline - time.monotonic())))
                    return worker
                except AssertionError:
                    continue
            if worker.process.poll() != EX_TEMPFAIL or attempt == restarts:
                break
            worker = self.start_worker(worker.name)
        stacks = worker.stacks()
        if worker.process.poll() is None:
            worker.kill()
        raise AssertionError(f"not caught up within {timeout:g}s:\n{stacks}")

    def start_worker_reaching(self, metric: str, at_least: float, restarts: int = 2) -> Worker:
        """A worker whose ``metric`` reached ``at_least``. Like an orchestrator, a worker that
        stopped itself for a restart (exit 75) is started again, at most ``restarts`` times."""
        for attempt in range(restarts + 1):
            worker = self.start_worker()
            try:
                worker.wait_metric(metric, at_least, timeout=240)
                return worker
            except AssertionError:
                if worker.process.poll() != EX_TEMPFAIL or attempt == restarts:
                    worker.stop()
                    raise
        raise AssertionError("unreachable")

    def wait_caught_up_or_explain(self, *workers: Worker, timeout: float = 180) -> None:
        """Like ``wait_caught_up``; on failure the error carries each live worker's stacks."""
        try:
            self.wait_caught_up(timeout)
        except AssertionError as exc:
            raise AssertionError(f"{exc}\n" + "\n".join(w.stacks() for w in workers)) from exc

    def kcat_produce(self, messages: list[tuple[bytes, bytes]]) -> None:
        needs("kafka")
        lines = b"".join(key + b"\t" + value + b"\n" for key, value in messages)
        subprocess.run(
            # murmur2 is what Java and aiokafka use: the same key must reach the same partition.
            ["kcat", "-P", "-b", BOOTSTRAP, "-t", self.topic, "-K", "\t", "-X", "acks=all"]
            + ["-X", "topic.partitioner=murmur2_random"],
            input=lines,
            check=True,
            timeout=120,
        )

    def skip_ahead(self, fraction: float) -> dict[int, tuple[int, int]]:
        """Commit the group's offsets part way into what it has not consumed yet, as a consumer
        that skipped messages would: returns, per partition, the old and the new committed offset."""
        needs("kafka")
        return asyncio.run(_skip_ahead(self.name, self.topic, fraction))

    def kcat_count(self, topic: str) -> int:
        """Messages on a topic, read with kcat from the beginning to the end."""
        needs("kafka")
        done = subprocess.run(
            ["kcat", "-C", "-b", BOOTSTRAP, "-t", topic, "-e", "-q", "-f", "%o\\n"],
            capture_output=True,
            check=True,
            timeout=60,
        )
        return len(done.stdout.splitlines())


async def _skip_ahead(group: str, topic: str, fraction: float) -> dict[int, tuple[int, int]]:
    admin = AIOKafkaAdminClient(**client_options(KAFKA))
    await admin.start()
    try:
        tps = [TopicPartition(topic, p) for p in await topic_partitions(admin, topic)]
    finally:
        await admin.close()
    consumer = AIOKafkaConsumer(**client_options(KAFKA), group_id=group, enable_auto_commit=False)
    await consumer.start()
    try:
        consumer.assign(tps)
        ends = await consumer.end_offsets(tps)
        moved = {}
        for tp in tps:
            old = await consumer.committed(tp) or 0
            moved[tp.partition] = (old, old + int((ends[tp] - old) * fraction))
        await consumer.commit({tp: moved[tp.partition][1] for tp in tps})
        return moved
    finally:
        await consumer.stop()


def _tail(path: Path, start: int, limit: int) -> str:
    """What a log holds from ``start`` on (from its end when ``start`` is 0), at most ``limit`` bytes."""
    with path.open("rb") as log:
        log.seek(start)
        text = log.read()
    return (text[:limit] if start else text[-limit:]).decode(errors="replace")


@dataclass
class Worker:
    process: subprocess.Popen[bytes]
    pipeline: Pipeline
    metrics_port: int
    name: str = "worker"

    def metric(self, name: str) -> float:
        """Sum of a metric's samples from the worker's /metrics endpoint (0 when absent)."""
        url = f"http://127.0.0.1:{self.metrics_port}/metrics"
        with urllib.request.urlopen(url, timeout=5) as response:  # noqa: S310 - loopback only
            text = response.read().decode()
        return sum(
            float(line.rsplit(" ", 1)[1])
            for line in text.splitlines()
            if line.startswith(name + "{") or line.startswith(name + " ")
        )

    def wait_metric(self, name: str, at_least: float, timeout: float = 120) -> float:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            self.assert_alive()
            try:
                value = self.metric(name)
                if value >= at_least:
                    return value
            except OSError:
                pass
            time.sleep(0.2)
        raise AssertionError(f"{name} stayed below {at_least} for {timeout}s:\n{self.stacks()}")

    def assert_alive(self) -> None:
        if self.process.poll() is not None:
            log = (self.pipeline.root / f"{self.name}.log").read_text(errors="replace")[-4000:]
            raise AssertionError(f"worker exited with {self.process.returncode}:\n{log}")

    def stacks(self) -> str:
        """The worker's thread stacks (SIGQUIT, via faulthandler, even with a blocked event loop)
        and asyncio tasks (SIGUSR1, mode's dump), after the end of its log; for failures that
        are otherwise silent hangs."""
        log_path = self.pipeline.root / f"{self.name}.log"
        if self.process.poll() is not None:
            return f"--- {self.name} exited with {self.process.returncode}; end of log ---\n{_tail(log_path, 0, 6000)}"
        parts = [f"--- {self.name}: end of log ---", _tail(log_path, 0, 4000)]
        for name, sig, limit in (("threads", signal.SIGQUIT, 12000), ("asyncio tasks", signal.SIGUSR1, 12000)):
            start = log_path.stat().st_size
            self.process.send_signal(sig)
            time.sleep(2)
            parts += [f"--- {self.name}: {name} ---", _tail(log_path, start, limit)]
        return "\n".join(parts)

    def stop(self, timeout: float = 90) -> int:
        """SIGTERM and the exit code; a worker still up after ``timeout`` (its own shutdown
        deadline is 45 s) is killed, and the error carries its stacks."""
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)
        try:
            return self.process.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            stacks = self.stacks()
            self.kill()
            raise AssertionError(f"the worker was still stopping after {timeout:g}s:\n{stacks}") from None

    def kill(self) -> None:
        self.process.send_signal(signal.SIGKILL)
        self.process.wait(timeout=30)


def agent_sample(
    device: str, user: str, exe: str, end: datetime, event_id: str, active: float = 40
) -> tuple[bytes, bytes]:
    """One agent sample of a minute ending at ``end``, as a (key, value) message keyed by device."""
    event = {
        "event_id": event_id,
        "event_time": end.isoformat(),
        "device_id": device,
        "user": user,
        "executable": {"path": f"/opt/{exe}", "file_name": exe},
        "kind": "sample",
        "active_seconds": active,
        "idle_seconds": 60 - active,
        "interval_seconds": 60,
    }
    return device.encode(), orjson.dumps(event)
