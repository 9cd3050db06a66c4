from sinks.local_state.seen_events import SeenEventStore

P0 = ("agent", 0)
P1 = ("agent", 1)


def test_recorded_ids_are_seen_per_partition_and_survive_reopening(tmp_path):
    store = SeenEventStore(tmp_path)
    store.record({P0: [(20_000, "a"), (20_001, "b")]}, {P0: 41})
    assert store.seen(P0, [(20_000, "a"), (20_001, "a"), (20_001, "b")]) == {(20_000, "a"), (20_001, "b")}
    assert store.seen(P1, [(20_000, "a")]) == set()
    store.close()
    again = SeenEventStore(tmp_path)
    assert again.mark(P0) == 41 and again.mark(P1) == -1
    assert again.seen(P0, [(20_000, "a")]) == {(20_000, "a")}
    again.close()


def test_expiry_drops_only_older_days_and_forgetting_drops_a_partition(tmp_path):
    store = SeenEventStore(tmp_path)
    store.record({P0: [(19_999, "old"), (20_001, "new")], P1: [(19_999, "other")]}, {P0: 3, P1: 4})
    store.expire(P0, 20_000)
    assert store.seen(P0, [(19_999, "old"), (20_001, "new")]) == {(20_001, "new")}
    store.forget_partition(P0)
    assert store.seen(P0, [(20_001, "new")]) == set() and store.mark(P0) == -1
    assert store.seen(P1, [(19_999, "other")]) == {(19_999, "other")} and store.mark(P1) == 4
    store.close()
