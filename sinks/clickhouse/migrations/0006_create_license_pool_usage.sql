-- License pools against use: which products each pool covers, seats in use per minute, peaks,
-- unlicensed use, and the alerts table.
--
-- catalog_products is the catalog as the warehouse needs it (names as usage rows show them,
-- ids, suites, license model), written by the worker whenever it loads a catalog version.
-- A pool covers a product it names (by catalog id or name) or a product in one of its suites.

CREATE TABLE IF NOT EXISTS catalog_products
(
    product         String,
    product_id      String,
    vendor          String,
    suites          Array(String),
    license_model   LowCardinality(String),
    licensable      UInt8,
    catalog_version LowCardinality(String),
    recorded_at     DateTime64(3, 'UTC') DEFAULT now64(3)
)
ENGINE = ReplacingMergeTree(recorded_at)
ORDER BY product
TTL toDateTime(recorded_at) + INTERVAL 10 YEAR;

CREATE VIEW IF NOT EXISTS pool_products AS
SELECT
    p.pool_id       AS pool_id,
    c.product       AS product,
    c.product_id    AS product_id
FROM (SELECT pool_id, products, suites FROM license_pools FINAL) AS p
CROSS JOIN (SELECT product, product_id, suites FROM catalog_products FINAL) AS c
WHERE has(arrayMap(x -> lower(x), p.products), lower(c.product_id))
   OR has(arrayMap(x -> lower(x), p.products), lower(c.product))
   OR hasAny(arrayMap(x -> lower(x), p.suites), arrayMap(x -> lower(x), c.suites));

-- Cores per device, from the latest inventory; devices without a core count count zero cores.
CREATE VIEW IF NOT EXISTS device_cores AS
SELECT device_id, max(ifNull(cpu_cores, 0)) AS cores
FROM inventory_latest
GROUP BY device_id;

-- Seats in use per pool and minute, by the pool's unit: users for user-based and subscription
-- models, devices for per-device pools, cores for per-core pools. "running" counts what was
-- open (usage sessions), "active" what was used (active time in the minute); running minus
-- active is the idle-harvesting potential. A session covers every minute from the one it
-- starts in to the one holding its last instant. This parameterized view computes a window;
-- the leader worker materializes it into pool_usage_1m_versions as sessions change:
--   SELECT * FROM pool_usage_1m_compute(from_minute = '2026-11-29 00:00:00', to_minute = '2026-11-30 00:00:00')
CREATE VIEW IF NOT EXISTS pool_usage_1m_compute AS
WITH
    pools AS
    (
        SELECT pool_id, name, license_model, seats
        FROM license_pools FINAL
    ),
    running AS
    (
        SELECT pp.pool_id AS pool_id, minute, s.user_key AS user_key, s.device_id AS device_id
        FROM
        (
            SELECT user_key, device_id, product, started_at, ended_at
            FROM usage_sessions
            WHERE ended_at >= {from_minute:DateTime} AND started_at < {to_minute:DateTime}
        ) AS s
        INNER JOIN pool_products AS pp ON pp.product = s.product
        ARRAY JOIN arrayFilter(
            m -> m >= {from_minute:DateTime} AND m < {to_minute:DateTime},
            arrayMap(
                i -> toStartOfMinute(s.started_at) + toIntervalMinute(i),
                range(toUInt32(dateDiff('minute', toStartOfMinute(s.started_at),
                    toStartOfMinute(greatest(s.started_at, s.ended_at - toIntervalMillisecond(1)))) + 1))
            )
        ) AS minute
    ),
    active_parts AS
    (
        SELECT pp.pool_id AS pool_id, u.minute AS minute, u.users AS users, u.devices AS devices
        FROM
        (
            SELECT minute, product, users, devices
            FROM product_usage_1m_parts
            WHERE minute >= {from_minute:DateTime} AND minute < {to_minute:DateTime}
        ) AS u
        INNER JOIN pool_products AS pp ON pp.product = u.product
    ),
    active_devices AS
    (
        SELECT DISTINCT pool_id, minute, device_id FROM active_parts ARRAY JOIN devices AS device_id
    ),
    running_units AS
    (
        SELECT pool_id, minute, uniqExact(user_key) AS users, uniqExact(device_id) AS devices
        FROM running
        GROUP BY pool_id, minute
    ),
    active_units AS
    (
        SELECT pool_id, minute, uniqExactArray(users) AS users, uniqExactArray(devices) AS devices
        FROM active_parts
        GROUP BY pool_id, minute
    ),
    running_cores AS
    (
        SELECT pool_id, minute, sum(cores) AS cores
        FROM (SELECT DISTINCT pool_id, minute, device_id FROM running) AS d
        LEFT JOIN device_cores AS dc ON dc.device_id = d.device_id
        GROUP BY pool_id, minute
    ),
    active_cores AS
    (
        SELECT pool_id, minute, sum(cores) AS cores
        FROM active_devices AS d
        LEFT JOIN device_cores AS dc ON dc.device_id = d.device_id
        GROUP BY pool_id, minute
    )
SELECT
    r.pool_id                                    AS pool_id,
    p.name                                       AS pool_name,
    p.license_model                              AS license_model,
    p.seats                                      AS seats,
    r.minute                                     AS minute,
    multiIf(p.license_model = 'per_device', r.devices,
            p.license_model = 'per_core', rc.cores, r.users)  AS running_in_use,
    multiIf(p.license_model = 'per_device', a.devices,
            p.license_model = 'per_core', ac.cores, a.users)  AS active_in_use,
    greatest(toInt64(running_in_use) - toInt64(active_in_use), 0) AS idle_in_use,
    r.users                                      AS running_users,
    a.users                                      AS active_users,
    r.devices                                    AS running_devices,
    a.devices                                    AS active_devices
FROM running_units AS r
INNER JOIN pools AS p ON p.pool_id = r.pool_id
LEFT JOIN active_units AS a ON a.pool_id = r.pool_id AND a.minute = r.minute
LEFT JOIN running_cores AS rc ON rc.pool_id = r.pool_id AND rc.minute = r.minute
LEFT JOIN active_cores AS ac ON ac.pool_id = r.pool_id AND ac.minute = r.minute;

-- The materialized per-minute view: one version per (pool, minute) each time the minute is
-- recomputed (a late session can change a past minute); the latest wins. Read pool_usage_1m.
CREATE TABLE IF NOT EXISTS pool_usage_1m_versions
(
    pool_id         String,
    minute          DateTime('UTC'),
    pool_name       String,
    license_model   LowCardinality(String),
    seats           UInt32,
    running_in_use  UInt64,
    active_in_use   UInt64,
    idle_in_use     UInt64,
    running_users   UInt64,
    active_users    UInt64,
    running_devices UInt64,
    active_devices  UInt64,
    computed_at     DateTime64(3, 'UTC')
)
ENGINE = ReplacingMergeTree(computed_at)
PARTITION BY toYYYYMM(minute)
ORDER BY (pool_id, minute)
TTL minute + INTERVAL 800 DAY;

CREATE VIEW IF NOT EXISTS pool_usage_1m AS
SELECT pool_id, minute, pool_name, license_model, seats, running_in_use, active_in_use, idle_in_use,
       running_users, active_users, running_devices, active_devices, computed_at
FROM pool_usage_1m_versions FINAL
WHERE running_in_use > 0 OR active_in_use > 0;

-- Peaks for right-sizing: per pool, the hourly and daily peak of seats in use.
CREATE VIEW IF NOT EXISTS pool_usage_peaks AS
SELECT
    pool_id,
    any(pool_name)               AS pool_name,
    any(license_model)           AS license_model,
    any(seats)                   AS seats,
    toDate(minute)               AS day,
    toStartOfHour(minute)        AS hour,
    max(running_in_use)          AS running_peak,
    max(active_in_use)           AS active_peak
FROM pool_usage_1m
GROUP BY pool_id, day, hour;

-- Per pool: the highest daily peak and the 95th percentile of the daily peaks (the seats that
-- covered all but the busiest days), over the days from its first use in the last 90 days to
-- today; days without use in between count as zero.
CREATE VIEW IF NOT EXISTS pool_rightsizing AS
SELECT
    p.pool_id                                                        AS pool_id,
    p.name                                                           AS pool_name,
    p.license_model                                                  AS license_model,
    p.seats                                                          AS seats,
    d.days                                                           AS days,
    length(d.running)                                                AS days_with_use,
    arrayMax(arrayResize(d.running, d.days, 0))                      AS running_peak,
    arrayReduce('quantileExact(0.95)', arrayResize(d.running, d.days, 0)) AS running_daily_peak_p95,
    arrayMax(arrayResize(d.active, d.days, 0))                       AS active_peak,
    arrayReduce('quantileExact(0.95)', arrayResize(d.active, d.days, 0))  AS active_daily_peak_p95
FROM (SELECT pool_id, name, license_model, seats FROM license_pools FINAL) AS p
INNER JOIN
(
    SELECT
        pool_id,
        groupArray(running_peak)                                         AS running,
        groupArray(active_peak)                                          AS active,
        toUInt32(least(90, dateDiff('day', min(day), today()) + 1))      AS days
    FROM
    (
        SELECT pool_id, day, max(running_peak) AS running_peak, max(active_peak) AS active_peak
        FROM pool_usage_peaks
        WHERE day > today() - 90
        GROUP BY pool_id, day
    )
    GROUP BY pool_id
) AS d ON d.pool_id = p.pool_id;

-- When data arrived, per minute: from each device, each agent (its health reports), each source
-- (usage topic) and the warehouse writer (worker). Sync gaps are the silences in this history.
-- seen_at is the worker's clock (in offline replay, the data's clock).
CREATE TABLE IF NOT EXISTS source_activity
(
    kind    LowCardinality(String),
    subject String,
    minute  DateTime('UTC'),
    seen_at DateTime64(3, 'UTC')
)
ENGINE = ReplacingMergeTree(seen_at)
PARTITION BY toYYYYMM(minute)
ORDER BY (kind, subject, minute)
TTL minute + INTERVAL 60 DAY;

CREATE TABLE IF NOT EXISTS source_last_seen
(
    kind    LowCardinality(String),
    subject String,
    seen_at DateTime64(3, 'UTC')
)
ENGINE = ReplacingMergeTree(seen_at)
ORDER BY (kind, subject)
TTL toDateTime(seen_at) + INTERVAL 400 DAY;

-- Unlicensed use: licensable products in use that no license pool covers.
CREATE VIEW IF NOT EXISTS unlicensed_use AS
SELECT
    s.product                        AS product,
    c.vendor                         AS vendor,
    c.license_model                  AS license_model,
    uniqExact(s.user_key)            AS users,
    uniqExact(s.device_id)           AS devices,
    sum(s.active_seconds)            AS active_seconds,
    min(s.started_at)                AS first_seen,
    max(s.ended_at)                  AS last_seen
FROM usage_sessions AS s
INNER JOIN (SELECT * FROM catalog_products FINAL WHERE licensable = 1) AS c ON c.product = s.product
WHERE s.product NOT IN (SELECT product FROM pool_products)
GROUP BY s.product, c.vendor, c.license_model;

-- Every alert's lifecycle: one row per change, the latest per alert_id wins.
CREATE TABLE IF NOT EXISTS alerts
(
    alert_id     String,
    rule         LowCardinality(String),
    subject_kind LowCardinality(String),
    subject      String,
    state        LowCardinality(String),
    opened_at    DateTime64(3, 'UTC'),
    resolved_at  Nullable(DateTime64(3, 'UTC')),
    value        Float64,
    threshold    Float64,
    summary      String,
    updated_at   DateTime64(3, 'UTC')
)
ENGINE = ReplacingMergeTree(updated_at)
PARTITION BY toYYYYMM(opened_at)
ORDER BY (rule, subject, alert_id)
TTL toDateTime(opened_at) + INTERVAL 800 DAY;
