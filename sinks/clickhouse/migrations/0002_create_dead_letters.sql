-- Mirror of every dead-letter topic, for reports and for `seatmeter dlq` tooling.
-- payload is sealed (encrypted, see streams/pipeline/dead_letters/seal.py) unless raw identities may be stored;
-- sealed names the scheme and key, empty for a payload kept as sent.
-- item_index is the event's place in an envelope, -1 for a whole message.
-- Keyed by the original coordinates, so a dead letter produced twice (a replayed batch) is kept once.

CREATE TABLE IF NOT EXISTS dead_letters
(
    dead_lettered_at DateTime64(3, 'UTC'),
    source_topic     LowCardinality(String),
    source_partition UInt32,
    source_offset    UInt64,
    item_index       Int32,
    stage            LowCardinality(String),
    reason           String,
    payload          String,
    payload_bytes    UInt32,
    sealed           LowCardinality(String),
    headers          Map(String, String)
)
ENGINE = ReplacingMergeTree(dead_lettered_at)
PARTITION BY toYYYYMM(dead_lettered_at)
ORDER BY (source_topic, source_partition, source_offset, item_index)
TTL toDateTime(dead_lettered_at) + INTERVAL 90 DAY;
