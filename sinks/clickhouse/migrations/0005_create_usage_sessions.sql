-- Usage sessions in event time, and the daily and weekly use read from them.
--
-- The worker writes a new version of a session whenever an event changes it; version is the
-- session's event count, which only grows. When a late event merges two sessions or moves a
-- start earlier, the superseded session id gets a deletion row whose version outranks all of
-- its earlier ones. ReplacingMergeTree keeps the highest version per session and FINAL drops
-- deleted ids, so the views below show every session once, in its latest form, whatever the
-- order and number of times the events arrived. A session id is fixed by its device, user,
-- product and start, so the same session always lands in the same partition and part key.

CREATE TABLE IF NOT EXISTS usage_session_versions
(
    session_id         UInt64,
    device_id          String,
    user_key           String,
    product            LowCardinality(String),
    started_at         DateTime64(3, 'UTC'),
    ended_at           DateTime64(3, 'UTC'),
    running_ms         UInt64,
    active_ms          UInt64,
    idle_ms            UInt64,
    event_count        UInt32,
    signins            UInt32,
    activity_measured  UInt8,
    counts_as_use      UInt8,
    session_type       LowCardinality(String),
    device_timezone    LowCardinality(String),
    definition_version LowCardinality(String),
    pseudonym_key_id   LowCardinality(String),
    version            UInt64,
    deleted            UInt8,
    written_at         DateTime64(3, 'UTC') DEFAULT now64(3)
)
ENGINE = ReplacingMergeTree(version, deleted)
PARTITION BY toYYYYMM(started_at)
ORDER BY (product, user_key, device_id, session_id)
TTL toDateTime(started_at) + INTERVAL 800 DAY;

-- The thresholds each definition version stands for; product '' holds the global values.
CREATE TABLE IF NOT EXISTS usage_definitions
(
    definition_version    LowCardinality(String),
    product               String,
    gap_seconds           Decimal(18, 3),
    min_active_seconds    Decimal(18, 3),
    weekly_active_minutes Decimal(18, 3),
    recorded_at           DateTime64(3, 'UTC') DEFAULT now64(3)
)
ENGINE = ReplacingMergeTree(recorded_at)
ORDER BY (definition_version, product)
TTL toDateTime(recorded_at) + INTERVAL 10 YEAR;

CREATE VIEW IF NOT EXISTS usage_sessions AS
SELECT
    session_id,
    device_id,
    user_key,
    product,
    started_at,
    ended_at,
    toDecimal64(running_ms, 3) / 1000 AS running_seconds,
    toDecimal64(active_ms, 3) / 1000  AS active_seconds,
    toDecimal64(idle_ms, 3) / 1000    AS idle_seconds,
    event_count,
    signins,
    activity_measured,
    counts_as_use,
    session_type,
    device_timezone,
    definition_version,
    pseudonym_key_id
FROM usage_session_versions FINAL;

CREATE VIEW IF NOT EXISTS usage_daily AS
SELECT
    toDate(started_at)                 AS day,
    user_key,
    product,
    count()                            AS sessions,
    countIf(counts_as_use = 1)         AS sessions_used,
    sum(active_seconds)                AS active_seconds,
    sum(running_seconds)               AS running_seconds,
    sum(idle_seconds)                  AS idle_seconds,
    uniqExact(device_id)               AS devices,
    max(definition_version)            AS definition_version
FROM usage_sessions
GROUP BY day, user_key, product;

CREATE VIEW IF NOT EXISTS usage_weekly AS
SELECT
    w.week               AS week,
    w.user_key           AS user_key,
    w.product            AS product,
    w.active_seconds     AS active_seconds,
    w.sessions_used      AS sessions_used,
    w.definition_version AS definition_version,
    if(p.definition_version = '', d.weekly_active_minutes, p.weekly_active_minutes) AS weekly_active_minutes,
    -- a definition the warehouse has no record of judges nobody as utilizing
    d.definition_version != ''
        AND w.active_seconds >= 60 * if(p.definition_version = '', d.weekly_active_minutes, p.weekly_active_minutes)
        AS utilizing
FROM
(
    SELECT
        toMonday(day)                AS week,
        user_key,
        product,
        sum(active_seconds)          AS active_seconds,
        sum(sessions_used)           AS sessions_used,
        max(definition_version)      AS definition_version
    FROM usage_daily
    GROUP BY week, user_key, product
) AS w
LEFT JOIN (SELECT * FROM usage_definitions FINAL WHERE product = '') AS d
    ON d.definition_version = w.definition_version
LEFT JOIN (SELECT * FROM usage_definitions FINAL WHERE product != '') AS p
    ON p.definition_version = w.definition_version AND p.product = w.product;
