"""The Faust options the settings make: what the throughput and the delivery rules rely on."""

from __future__ import annotations

import gc

from schemas.settings import KafkaSettings, Settings, WorkerSettings
from streams.runtime.tuning import app_options, tune_garbage_collector


def test_the_consumer_fetches_eight_megabytes_per_partition_by_default():
    assert app_options(Settings())["consumer_max_fetch_size"] == 8 << 20


def test_the_fetch_size_is_never_below_the_largest_message():
    kafka = KafkaSettings(max_message_bytes=16 << 20, fetch_bytes_per_partition=1 << 20)
    assert app_options(Settings(kafka=kafka))["consumer_max_fetch_size"] == 16 << 20


def test_commits_follow_the_interval_and_the_buffer_holds_two_batches():
    options = app_options(Settings(worker=WorkerSettings(batch_max_messages=5_000, commit_interval_seconds=3)))
    assert options["broker_commit_interval"] == 3
    assert options["broker_commit_every"] == 20_000
    assert options["stream_buffer_maxsize"] == 10_000
    assert options["producer_acks"] == -1


def test_the_collector_runs_less_often_and_leaves_start_up_objects_alone():
    before = gc.get_threshold()
    try:
        tune_garbage_collector(50_000)
        assert gc.get_threshold() == (50_000, before[1], before[2])
        assert gc.get_freeze_count() > 0
        tune_garbage_collector(0)
        assert gc.get_threshold()[0] == 50_000
    finally:
        gc.unfreeze()
        gc.set_threshold(*before)
