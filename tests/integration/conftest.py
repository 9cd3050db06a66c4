from __future__ import annotations

import re
import shutil
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.integration import harness, secured_broker
from tests.integration.harness import BOOTSTRAP, Pipeline, broker_reachable
from tests.support.fixtures import FIXTURE_PASSWORD, chdb_http_server  # noqa: F401 - a fixture

__all__ = ["chdb_http_server"]

INTEGRATION = Path(__file__).parent
NEEDS = ("kafka", "clickhouse")
# What each fixture brings up, as the markers a test using it must carry (``-m "not kafka"`` then
# deselects exactly the tests that need a broker).
FIXTURE_NEEDS = {
    "kafka_broker": {"kafka"},
    "secured_kafka": {"kafka"},
    "chdb_http_server": {"clickhouse"},
    "embedded_pipeline": {"kafka", "clickhouse"},
    "server_pipeline": {"kafka", "clickhouse"},
}
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


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    """Fail the run before it starts when an integration test does not say what it needs: a module
    carrying neither ``kafka`` nor ``clickhouse``, or a test whose fixtures bring up more than its
    markers say."""
    ours = [item for item in items if INTEGRATION in item.path.parents]
    problems = []
    for item in ours:
        need = set().union(*(FIXTURE_NEEDS.get(name, set()) for name in getattr(item, "fixturenames", ())))
        if missing := need - _markers(item):
            problems.append(
                f"{item.nodeid} uses {' and '.join(sorted(need))}, not marked {' and '.join(sorted(missing))}"
            )
    marked = {item.path for item in ours if _markers(item) & set(NEEDS)}
    for module in sorted({item.path for item in ours} - marked):
        problems.append(f"{module.relative_to(INTEGRATION.parents[1])} carries neither {' nor '.join(NEEDS)}")
    if problems:
        raise pytest.UsageError("integration tests must be marked with what they need:\n  " + "\n  ".join(problems))


def _markers(item: pytest.Item) -> set[str]:
    return {mark.name for mark in item.iter_markers()}


@pytest.hookimpl(tryfirst=True)
def pytest_runtest_setup(item: pytest.Item) -> None:
    """The harness checks each broker or engine call against the running test's markers."""
    harness.running_test_markers = frozenset(_markers(item))


@pytest.hookimpl(trylast=True)
def pytest_runtest_teardown(item: pytest.Item) -> None:
    harness.running_test_markers = None


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
