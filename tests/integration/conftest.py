from __future__ import annotations

import re
import shutil
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.integration import secured_broker
from tests.integration.harness import BOOTSTRAP, Pipeline, broker_reachable
from tests.support.fixtures import FIXTURE_PASSWORD, chdb_http_server  # noqa: F401 - a fixture

__all__ = ["chdb_http_server"]

WORKER_MILESTONES = re.compile(r"WARN|ERROR|CRITICAL|Worker ready|\^Worker\]: (Starting|Stopping)|Closing event loop")


@pytest.hookimpl(wrapper=True)
def pytest_runtest_makereport(item: pytest.Item, call: pytest.CallInfo[None]) -> Iterator[None]:
    """A failed test shows its workers' milestones (start, ready, stop, warnings) with times:
    the worker logs live in files, so a CI failure is otherwise silent about them."""
    report = yield
    tmp_path = getattr(item, "funcargs", {}).get("tmp_path")
    if report.failed and call.when == "call" and isinstance(tmp_path, Path):
        worker_logs = [log for log in sorted(tmp_path.rglob("*.log")) if not log.stem.isdigit()]  # not RocksDB's
        for log in worker_logs[:6]:
            report.sections.append((f"worker log {log.relative_to(tmp_path)}", worker_milestones(log)))
    return report


def worker_milestones(log: Path, keep: int = 40, last: int = 12) -> str:
    lines = log.read_text(errors="replace").splitlines()
    marked = [line[:300] for line in lines if WORKER_MILESTONES.search(line)]
    return "\n".join([*marked[-keep:], "--- last lines ---", *(line[:300] for line in lines[-last:])])


@pytest.fixture(scope="session")
def kafka_broker() -> str:
    if not broker_reachable():
        pytest.fail(f"no Kafka broker at {BOOTSTRAP}: start the local one with `make kafka-up`")
    if shutil.which("kcat") is None:
        pytest.fail("kcat is missing: `make setup` installs Debian's kcat")
    return BOOTSTRAP


@pytest.fixture(scope="session")
def secured_kafka(tmp_path_factory) -> Iterator[secured_broker.SecuredBroker]:
    """A broker of its own with SASL_PLAINTEXT, SASL_SSL and SSL (client certificate) listeners."""
    broker = secured_broker.start(tmp_path_factory.mktemp("secured-kafka"))
    try:
        yield broker
    finally:
        secured_broker.stop(broker)


@pytest.fixture
def embedded_pipeline(kafka_broker, tmp_path) -> Pipeline:
    """A pipeline whose warehouse is chDB in the worker's own process (the default deployment)."""
    return Pipeline(root=tmp_path, warehouse_url=f"chdb://{tmp_path / 'warehouse'}")


@pytest.fixture
def server_pipeline(kafka_broker, tmp_path, chdb_http_server) -> Iterator[Pipeline]:  # noqa: F811
    """A pipeline whose worker reaches the warehouse over HTTP, as it would a ClickHouse server."""
    host_port = chdb_http_server.url.rsplit("@", 1)[-1]
    yield Pipeline(
        root=tmp_path,
        warehouse_url=f"http://{host_port}",
        extra_env={"SEATMETER_WAREHOUSE__PASSWORD": FIXTURE_PASSWORD},
    )
