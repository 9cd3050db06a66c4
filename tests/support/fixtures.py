"""pytest fixtures for the chDB-backed ClickHouse HTTP test fixture.

Use them from a test module with ``from tests.support.fixtures import chdb_http_server``
(or list ``tests.support.fixtures`` in ``pytest_plugins`` of a conftest). Run pytest as
``python -m pytest`` from the repository root so ``tests`` is importable.

chDB hosts one engine per process on one data path at a time, so these fixtures are
function-scoped and each test gets its own data directory under ``tmp_path``; the
server is stopped (engine closed, threads joined) before the next test starts. Do not
use other chDB entry points (``chdb.query()``, ``chdb.session.Session()``, the
clickhouse-connect ``chdb`` interface) in a test while this fixture is running.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.support.chdb_http import ChdbHttpServer

FIXTURE_PASSWORD = "fixture-pw"  # noqa: S105 - a test-only credential for a loopback fixture


@pytest.fixture
def chdb_http_server(tmp_path: Path) -> Iterator[ChdbHttpServer]:
    """A running ChdbHttpServer (user ``default``, password ``FIXTURE_PASSWORD``)."""
    server = ChdbHttpServer(str(tmp_path / "chdb-data"), password=FIXTURE_PASSWORD)
    server.start()
    try:
        yield server
    finally:
        server.stop()
