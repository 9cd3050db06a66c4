"""Committed offsets keep up with the work done, also after restarts that lose the local state.

Issue 12, item 6: after a kill -9 and a deleted state folder, consumption finished and the
warehouse was exact, but committed offsets crawled or stopped: Faust's record of done offsets
held duplicates, and after a restart it skipped offsets it never counted as done (see
``streams.runtime.faust_compat``). Before that fix this run ended 5,003 messages behind after 90 s.
"""

from __future__ import annotations

import shutil
import time

import pytest

from tests.integration.chaos.scenario import FAST_RESTARTS, conclude, ledger_of, oracle, send
from tests.integration.harness import EX_TEMPFAIL

pytestmark = [pytest.mark.kafka, pytest.mark.clickhouse, pytest.mark.chaos, pytest.mark.slow]


def test_commits_catch_up_after_kills_that_delete_the_state_folder(embedded_pipeline, tmp_path, record_findings):
    pipeline, ledger = embedded_pipeline, ledger_of(seed=61, devices=200, minutes=60)
    pipeline.extra_env.update(FAST_RESTARTS)
    pipeline.extra_env["SEATMETER_INGEST__MAX_ROWS_PER_BATCH"] = "20"  # batches are written in parts, too
    send(pipeline, ledger.messages)
    for kill in range(4):
        worker = pipeline.start_worker()
        worker.wait_metric("seatmeter_messages_consumed_total", len(ledger.messages) // 8, timeout=180)
        assert worker.metric("seatmeter_batches_split_total") > 0
        worker.kill()
        shutil.rmtree(pipeline.root / "worker", ignore_errors=True)
        ledger.note(f"kill -9 and state folder deleted ({kill + 1} of 4)")
    worker = pipeline.start_worker()
    started = time.monotonic()
    try:
        pipeline.wait_caught_up_or_explain(worker, timeout=90)
    finally:
        code = worker.stop()
    took = time.monotonic() - started
    ledger.note(f"every offset committed {took:.0f}s after the last restart")
    assert code in (0, EX_TEMPFAIL)
    conclude("commits after lost state", ledger, pipeline, record_findings, oracle(tmp_path / "oracle", ledger, {}))
