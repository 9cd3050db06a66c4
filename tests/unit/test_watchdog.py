from streams.watchdog import StallWatchdog

P0, P1 = ("usage", 0), ("usage", 1)


def test_waiting_counts_messages_past_both_the_committed_and_the_processed_offset():
    dog = StallWatchdog(60)
    assert dog.waiting({P0: 10, P1: 5}, {P0: 4, P1: 5}) == 6
    dog.progressed({P0: 8})
    assert dog.waiting({P0: 10, P1: 5}, {P0: 4, P1: 5}) == 1


def test_a_stall_is_no_progress_for_the_timeout_with_messages_waiting():
    dog = StallWatchdog(60)
    start = dog._last_progress  # noqa: SLF001 - the clock the test steps past
    assert not dog.stalled(3, now=start + 30)
    assert dog.stalled(3, now=start + 61)
    assert not dog.stalled(0, now=start + 600), "an idle worker with nothing waiting is fine"
    dog.reassigned()
    assert not dog.stalled(3, now=dog._last_progress + 30)  # noqa: SLF001
