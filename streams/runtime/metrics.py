"""Every Prometheus metric Seatmeter exports, in one place so names stay consistent."""

from __future__ import annotations

from prometheus_client import Counter, Gauge, Histogram

EVENTS_CONSUMED = Counter("seatmeter_events_consumed", "Usage events decoded from Kafka messages.", ["topic"])
MESSAGES_CONSUMED = Counter("seatmeter_messages_consumed", "Kafka messages read, valid or not.", ["topic"])
MESSAGES_ALREADY_WRITTEN = Counter(
    "seatmeter_messages_already_written",
    "Messages skipped because the warehouse already held their effects (replays after a crash).",
    ["topic"],
)
OFFSET_GAPS = Counter(
    "seatmeter_offset_gaps",
    "Ranges of offsets the consumer skipped before a batch, read back before it was written.",
    ["topic"],
)
OFFSET_GAP_MESSAGES = Counter("seatmeter_offset_gap_messages", "Messages read back to fill skipped offsets.", ["topic"])
EVENTS_INVALID = Counter("seatmeter_events_invalid", "Inputs rejected by a stage.", ["topic", "stage"])
EVENTS_OUT_OF_SCOPE = Counter(
    "seatmeter_events_out_of_scope",
    "Events dropped at ingest by the monitoring scope (never stored).",
    ["topic", "rule"],
)
EVENTS_LATE = Counter(
    "seatmeter_events_late",
    "Events older than the allowed lateness, set aside on <topic>.late.",
    ["topic"],
)
EVENTS_DUPLICATE = Counter(
    "seatmeter_events_duplicate",
    "Events delivered again (same event id) and counted once.",
    ["topic"],
)
DEAD_LETTERS = Counter("seatmeter_dead_letters", "Dead letters produced to <topic>.dlq.", ["topic", "stage"])
BATCHES_SPLIT = Counter(
    "seatmeter_batches_split",
    "Batches worked through in parts, their messages making more minute rows than one batch may.",
    ["topic"],
)
DEAD_LETTERS_NOT_MIRRORED = Counter(
    "seatmeter_dead_letters_not_mirrored",
    "Dead letters the warehouse refused; they stay on their dead-letter topic only.",
    ["topic"],
)
POISON_MESSAGES = Counter(
    "seatmeter_poison_messages",
    "Messages whose processing kept failing with an unexpected error, set aside to <topic>.dlq.",
    ["topic", "error"],
)
ROWS_WRITTEN = Counter("seatmeter_warehouse_rows_written", "Rows inserted into the warehouse.", ["table"])
INSERT_ERRORS = Counter("seatmeter_warehouse_insert_errors", "Failed warehouse inserts (each retry counts).", ["table"])
FLUSH_SECONDS = Histogram(
    "seatmeter_warehouse_flush_seconds",
    "Time to write one batch to one table, retries included.",
    ["table"],
    buckets=(0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30),
)
BATCH_MESSAGES = Histogram(
    "seatmeter_batch_messages",
    "Kafka messages per processed batch.",
    ["topic"],
    buckets=(1, 10, 100, 500, 1000, 2500, 5000, 10000),
)
CONSUMER_LAG = Gauge(
    "seatmeter_consumer_lag",
    "Messages behind the partition's high watermark: not yet processed (set per batch), or not yet "
    "committed (set by the stall check every few seconds, so it rises while a batch cannot finish).",
    ["topic", "partition"],
)
LAST_WRITE_TIMESTAMP = Gauge(
    "seatmeter_warehouse_last_write_timestamp_seconds",
    "Unix time of the last successful insert, per table.",
    ["table"],
)
SESSION_KEYS_UPDATED = Counter(
    "seatmeter_session_keys_updated",
    "Session keys (device, user, product) whose state a batch changed.",
)
POOL_SEATS = Gauge("seatmeter_pool_seats", "Seats owned in a license pool.", ["pool"])
POOL_SEATS_IN_USE = Gauge(
    "seatmeter_pool_seats_in_use",
    "Seats of a license pool in use in the last complete minute, by the pool's unit; "
    "measure is running (open) or active (used).",
    ["pool", "measure"],
)
ALERTS_OPEN = Gauge("seatmeter_alerts_open", "Alerts open now, per rule.", ["rule"])
ALERT_TRANSITIONS = Counter("seatmeter_alert_transitions", "Alerts opened or resolved, per rule.", ["rule", "state"])
ALERT_EVALUATION_TIMESTAMP = Gauge(
    "seatmeter_alert_evaluation_timestamp_seconds", "When the alert rules were last evaluated (Unix time)."
)
WEBHOOK_FAILURES = Counter("seatmeter_alert_webhook_failures", "Alert webhook POSTs that failed.")
ALERT_EVALUATION_FAILURES = Counter("seatmeter_alert_evaluation_failures", "Alert evaluations that failed.")
EVENT_IDS_COUNTED_MORE_THAN_ONCE = Gauge(
    "seatmeter_event_ids_counted_more_than_once",
    "Event ids of the last day counted under more than one source partition or replay: copies that "
    "broke the keying rule (see the event_ids_counted_more_than_once view).",
)
