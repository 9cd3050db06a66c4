import asyncio
import subprocess
import sys
import threading
import time

from streams.runtime import supervision
from streams.runtime.supervision import LoopGuard, StallWatchdog

P0, P1 = ("usage", 0), ("usage", 1)


def test_a_stall_is_a_committed_offset_that_does_not_move_with_messages_waiting():
    dog = StallWatchdog(60)
    assert dog.stalled({P0: 10, P1: 5}, {P0: 4, P1: 5}, now=0) == 0
    assert dog.stalled({P0: 10, P1: 5}, {P0: 4, P1: 5}, now=30) == 0
    assert dog.stalled({P0: 12, P1: 9}, {P0: 4, P1: 5}, now=61) == 8, "P0 has not moved for 61 s; P1 only just waits"
    assert dog.stalled({P0: 12, P1: 9}, {P0: 4, P1: 5}, now=70) == 8 + 0


def test_moving_or_caught_up_partitions_never_stall():
    dog = StallWatchdog(60)
    for second, done in ((0, 1), (50, 2), (100, 3), (150, 4)):
        assert dog.stalled({P0: 100}, {P0: done}, now=second) == 0
    assert dog.stalled({P1: 5}, {P1: 5}, now=0) == 0
    assert dog.stalled({P1: 5}, {P1: 5}, now=1000) == 0


def test_a_reassignment_restarts_the_clock():
    dog = StallWatchdog(60)
    dog.stalled({P0: 10}, {P0: 4}, now=0)
    dog.reassigned()
    assert dog.stalled({P0: 10}, {P0: 4}, now=61) == 0
    assert dog.stalled({P0: 10}, {P0: 4}, now=122) == 6


def test_reading_a_skipped_range_back_counts_as_progress():
    dog = StallWatchdog(60)
    dog.stalled({P0: 10}, {P0: 4}, now=0)
    dog.progressed()
    assert dog.stalled({P0: 10}, {P0: 4}, now=50) == 0
    assert dog.stalled({P0: 10}, {P0: 4}, now=100) == 0, "the clock restarted at 50"
    assert dog.stalled({P0: 10}, {P0: 4}, now=111) == 6


def test_the_loop_guard_counts_silence_only_past_its_timeout():
    guard = LoopGuard(30, on_stuck=lambda silent: None)
    guard.beat(now=100)
    assert guard.silent_for(now=129) == 0
    assert guard.silent_for(now=131) == 31
    guard.beat(now=131)
    assert guard.silent_for(now=140) == 0


def test_the_loop_guard_thread_calls_out_a_silent_loop_once():
    called: list[float] = []
    stuck = threading.Event()
    guard = LoopGuard(0.3, on_stuck=lambda silent: (called.append(silent), stuck.set()))
    guard.start()
    for _ in range(6):
        time.sleep(0.1)
        guard.beat()
    assert not stuck.is_set(), "beats every 0.1 s keep it quiet"
    assert stuck.wait(2), "no beats: it calls out"
    time.sleep(0.3)
    assert len(called) == 1 and called[0] > 0.3


def test_a_writer_retrying_an_outage_is_not_a_stall():
    watchdog = StallWatchdog(timeout_seconds=10)
    part = ("agent", 0)
    assert watchdog.stalled({part: 50}, {part: 10}, now=0) == 0
    watchdog.waiting_on_infrastructure()
    assert watchdog.stalled({part: 50}, {part: 10}, now=11) == 0
    assert watchdog.stalled({part: 50}, {part: 10}, now=22) == 40


def test_commits_behind_finished_work_for_the_timeout_are_reported():
    dog = StallWatchdog(60)
    dog.processed({P0: 100, P1: 50}, now=0)
    assert dog.commits_behind({P0: 40, P1: 50}, now=30) == {}, "P1 is committed; P0 still has time"
    dog.processed({P0: 200, P1: 80}, now=40)
    assert dog.commits_behind({P0: 41, P1: 50}, now=61) == {P0: 59}, "P0's position 100 is 61 s old"
    assert dog.commits_behind({P0: 100, P1: 80}, now=101) == {}, "both caught up with what was owed"


def test_commits_that_follow_the_work_are_never_behind():
    dog = StallWatchdog(60)
    for second in range(0, 600, 10):
        dog.processed({P0: second * 10 + 10}, now=second)
        assert dog.commits_behind({P0: second * 10}, now=second) == {}


def test_a_reassignment_forgets_what_was_owed():
    dog = StallWatchdog(60)
    dog.processed({P0: 100}, now=0)
    dog.reassigned()
    assert dog.commits_behind({P0: 0}, now=100) == {}


class FakeConsumer:
    """The stall check's view of a consumer: end offsets and committed offsets as given."""

    def __init__(self, ends, committed, busy=False):
        self._ends, self._committed, self._busy = ends, committed, busy
        self.marks = []

    def busy(self):
        return self._busy

    async def ends(self):
        return self._ends

    def committed(self, partitions):
        return {p: self._committed.get(p, 0) for p in partitions}

    def mark_written(self, marks):
        self.marks.append(dict(marks))


class Written:
    async def written_through(self, topic):
        return {(topic, 0): 41}


def run_check(consumer, exits, monkeypatch, now=None, timeout=60.0):
    from streams.runtime import supervision

    monkeypatch.setattr(supervision, "exit_without_ack", exits.append)
    monkeypatch.setattr(supervision, "print_tasks", lambda: None)
    watchdog = StallWatchdog(timeout)
    check = supervision.StallCheck(watchdog, consumer, {"agent": Written()})
    return watchdog, check


def test_the_stall_check_passes_the_warehouse_marks_to_the_consumer(monkeypatch):
    exits = []
    consumer = FakeConsumer({("agent", 0): 50}, {("agent", 0): 10})
    _, check = run_check(consumer, exits, monkeypatch)
    asyncio.run(check.run())
    assert consumer.marks == [{("agent", 0): 41}]
    assert exits == []


def test_the_stall_check_exits_when_commits_stand_still_with_messages_waiting(monkeypatch):
    exits = []
    consumer = FakeConsumer({("agent", 0): 50}, {("agent", 0): 10})
    watchdog, check = run_check(consumer, exits, monkeypatch, timeout=0.0)
    asyncio.run(check.run())
    time.sleep(0.01)
    asyncio.run(check.run())
    assert [type(e).__name__ for e in exits] == ["WorkerStalledError"]
    assert "40 messages waiting" in str(exits[0])


def test_a_rebalancing_consumer_is_never_a_stall(monkeypatch):
    exits = []
    consumer = FakeConsumer({("agent", 0): 50}, {("agent", 0): 10}, busy=True)
    _, check = run_check(consumer, exits, monkeypatch, timeout=0.0)
    for _ in range(3):
        asyncio.run(check.run())
    assert exits == [] and consumer.marks == []


def test_exit_codes_say_whether_a_restart_helps():
    from streams.runtime.inserter import InvalidInputFloodError, WarehouseUnavailableError
    from streams.runtime.supervision import EX_DATAERR, EX_SOFTWARE, EX_TEMPFAIL, WorkerStalledError, exit_code

    assert exit_code(WarehouseUnavailableError("down")) == EX_TEMPFAIL
    assert exit_code(WorkerStalledError("stuck")) == EX_TEMPFAIL
    assert exit_code(InvalidInputFloodError("bad deploy")) == EX_DATAERR
    assert exit_code(ValueError("bug")) == EX_SOFTWARE


def _stop_that_never_ends(in_hand: int) -> subprocess.CompletedProcess[str]:
    program = (
        "import time\n"
        "from streams.runtime.supervision import BatchesInHand, ShutdownDeadline\n"
        "batches = BatchesInHand()\n"
        f"batches.count = {in_hand}\n"
        "ShutdownDeadline(0.3, batches).start()\n"
        "time.sleep(30)\n"
    )
    return subprocess.run([sys.executable, "-c", program], capture_output=True, text=True, timeout=20, check=False)


def test_a_stop_that_outlasts_its_deadline_ends_the_process_with_0_when_no_batch_is_in_hand():
    started = time.monotonic()
    done = _stop_that_never_ends(in_hand=0)
    assert done.returncode == 0, done.stderr
    assert time.monotonic() - started < 15
    assert "did not finish stopping within 0.3s (0 batches in hand); exiting with 0" in done.stderr
    assert "most recent call first" in done.stderr, "every thread's stack is in the log"


def test_a_stop_that_outlasts_its_deadline_with_a_batch_in_hand_exits_for_a_restart():
    done = _stop_that_never_ends(in_hand=1)
    assert done.returncode == 75, done.stderr


def test_or_exit_counts_the_batch_in_hand_until_it_is_done():
    batches = supervision.IN_HAND
    seen: list[int] = []

    async def work() -> None:
        seen.append(batches.count)

    asyncio.run(supervision.or_exit(work(), stop_retrying=lambda: None))
    assert seen == [1] and batches.count == 0
