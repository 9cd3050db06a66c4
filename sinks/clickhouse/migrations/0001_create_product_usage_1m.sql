-- Per-minute product usage, written exactly once per source offset.
--
-- The worker inserts one row per (batch, source partition, product, minute) into
-- product_usage_1m_parts. Each row carries the highest source offset of its batch for its
-- partition; on start the worker reads max(batch_last_offset) per partition and skips
-- everything at or below it, so a batch replayed after a crash never lands twice.
-- event_ids lists the events counted in the row's minute, so that a duplicate delivered later
-- (a re-sent buffer) is recognized even after the worker's local record is lost.
-- pseudonym_key_id names the key that made the pseudonyms in users, so a rotation shows.
-- category (application or unknown) and catalog_version say how the catalog named the product.
-- A materialized view would not do: its target is written apart from the source table, so a
-- crash between the two would break the record of progress. The aggregating projection lives
-- inside each data part and so commits with it; per-minute queries read it, not the rows.

CREATE TABLE IF NOT EXISTS product_usage_1m_parts
(
    minute            DateTime('UTC'),
    product           LowCardinality(String),
    users             Array(String),
    devices           Array(String),
    active_ms         UInt64,
    event_count       UInt32,
    source_topic      LowCardinality(String),
    source_partition  UInt32,
    batch_last_offset UInt64,
    event_ids         Array(String) CODEC(ZSTD(3)),
    pseudonym_key_id  LowCardinality(String),
    category          LowCardinality(String),
    catalog_version   LowCardinality(String),
    inserted_at       DateTime64(3, 'UTC') DEFAULT now64(3),
    PROJECTION per_minute
    (
        SELECT
            minute,
            product,
            uniqExactArray(users),
            uniqExactArray(devices),
            sum(active_ms),
            sum(event_count)
        GROUP BY minute, product
    )
)
ENGINE = MergeTree
PARTITION BY toYYYYMM(minute)
ORDER BY (source_topic, source_partition, batch_last_offset, product, minute)
TTL minute + INTERVAL 400 DAY;

CREATE VIEW IF NOT EXISTS product_usage_per_minute AS
SELECT
    minute,
    product,
    uniqExactArray(users)   AS active_users,
    uniqExactArray(devices) AS active_devices,
    toDecimal128(sum(active_ms), 3) / 1000 AS active_seconds,
    sum(event_count)        AS event_count
FROM product_usage_1m_parts
GROUP BY minute, product;
