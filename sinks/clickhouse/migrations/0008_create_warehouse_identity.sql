-- What a warehouse is and which keys wrote it, so local state and keys are never mixed up.
--
-- warehouse_identity holds one id, made when this migration runs. Offline replay keeps its
-- session state and record of counted events under that id, so state built for one warehouse
-- is never applied to another (a fresh warehouse has a new id and starts with no state).
-- pseudonym_keys records, per key id, a check value of the key (an HMAC of a fixed text, not
-- the key). A process whose key has the recorded id but another check value would make second
-- pseudonyms for the same people, and is refused. The first row per key id is the one kept.
-- event_ids_bloom lets a replay look its event ids up in the warehouse without a full scan.
-- event_ids_counted_more_than_once lists every event id that more than one source partition
-- (or replay) counted: sources must key copies of an event to one partition, and this shows
-- where that rule was broken.

CREATE TABLE IF NOT EXISTS warehouse_identity
(
    warehouse_id UUID,
    created_at   DateTime64(3, 'UTC') DEFAULT now64(3)
)
ENGINE = MergeTree
ORDER BY (created_at, warehouse_id)
TTL toDateTime(created_at) + INTERVAL 50 YEAR;

INSERT INTO warehouse_identity (warehouse_id) SELECT generateUUIDv4();

CREATE TABLE IF NOT EXISTS pseudonym_keys
(
    key_id      String,
    key_check   String,
    recorded_at DateTime64(3, 'UTC') DEFAULT now64(3)
)
ENGINE = MergeTree
ORDER BY (key_id, recorded_at)
TTL toDateTime(recorded_at) + INTERVAL 50 YEAR;

ALTER TABLE product_usage_1m_parts ADD INDEX IF NOT EXISTS event_ids_bloom event_ids TYPE bloom_filter(0.01) GRANULARITY 1;

ALTER TABLE product_usage_1m_parts MATERIALIZE INDEX event_ids_bloom;

CREATE VIEW IF NOT EXISTS event_ids_counted_more_than_once AS
SELECT
    event_id,
    count()                                                            AS times_counted,
    min(minute)                                                        AS minute,
    groupUniqArray(concat(source_topic, ':', toString(source_partition))) AS counted_in
FROM product_usage_1m_parts
ARRAY JOIN event_ids AS event_id
GROUP BY event_id
HAVING times_counted > 1;
