-- Per-minute active time capped at the wall clock, per (device, user), across batches.
--
-- A row's active_ms is the raw sum of its batch's shares, so two windows of one product in one
-- minute summed to more than 60 s. Each row now also keeps, per (device id, user pseudonym),
-- named by a 64-bit hash of the two (use_keys): the active ms (use_active_ms) and the part of
-- the minute its active samples spanned (use_from_ms .. use_to_ms, ms offsets from the
-- minute's start). Integer keys keep the projection cheap to build on insert. The view sums them per
-- (device, user) over every row, caps the sum at the span, and adds the capped figures, so the
-- cap holds whichever batches, replays or partitions the samples came through. Sessions cap
-- active time by the same rule, so per-minute and session figures agree.
-- Rows written before this migration have empty use_ arrays: their active_ms counts as stored
-- (uncapped), because which device and user it belonged to was not kept.
-- The projection per_minute_use serves the view and every aggregate per_minute served; the
-- old projection is dropped so each insert builds one. Old parts keep theirs until merged.

ALTER TABLE product_usage_1m_parts
    ADD COLUMN IF NOT EXISTS use_keys      Array(UInt64),
    ADD COLUMN IF NOT EXISTS use_active_ms Array(UInt64),
    ADD COLUMN IF NOT EXISTS use_from_ms   Array(UInt16),
    ADD COLUMN IF NOT EXISTS use_to_ms     Array(UInt16);

ALTER TABLE product_usage_1m_parts
    ADD PROJECTION IF NOT EXISTS per_minute_use
    (
        SELECT
            minute,
            product,
            uniqExactArray(users),
            uniqExactArray(devices),
            sum(active_ms),
            sum(event_count),
            sumMap(use_keys, use_active_ms),
            maxMap(use_keys, arrayMap(x -> 60000 - x, use_from_ms), use_to_ms)
        GROUP BY minute, product
    );

ALTER TABLE product_usage_1m_parts DROP PROJECTION IF EXISTS per_minute;

-- The two maps line up by key: every use_ entry has active_ms > 0, so sumMap drops none.
-- spans.2 is 60000 minus the earliest covered instant, spans.3 the latest.
CREATE OR REPLACE VIEW product_usage_per_minute AS
SELECT
    minute,
    product,
    active_users,
    active_devices,
    toDecimal128(
        raw_ms - arraySum(keyed.2)
        + arraySum(arrayMap((ms, head, tail) -> least(ms, toUInt64(toInt64(head) + tail - 60000)),
                            keyed.2, spans.2, spans.3)),
        3) / 1000 AS active_seconds,
    event_count
FROM
(
    SELECT
        minute,
        product,
        uniqExactArray(users)            AS active_users,
        uniqExactArray(devices)          AS active_devices,
        sum(active_ms)                   AS raw_ms,
        sum(event_count)                 AS event_count,
        sumMap(use_keys, use_active_ms)  AS keyed,
        maxMap(use_keys, arrayMap(x -> 60000 - x, use_from_ms), use_to_ms) AS spans
    FROM product_usage_1m_parts
    GROUP BY minute, product
);
