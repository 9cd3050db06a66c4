-- Reference data that usage is judged against, mirrored from compacted Kafka topics.
-- Each row carries the Kafka offset of the message it came from as its version, and tombstones
-- arrive as rows with is_deleted = 1; ReplacingMergeTree keeps the latest per key, so a message
-- written twice (a replay) changes nothing. Query with FINAL.

CREATE TABLE IF NOT EXISTS license_pools
(
    pool_id       String,
    name          String,
    products      Array(String),
    suites        Array(String),
    license_model LowCardinality(String),
    seats         UInt32,
    unit_cost     Decimal(18, 6),
    currency      LowCardinality(String),
    term_start    Nullable(Date),
    term_end      Nullable(Date),
    renewal_date  Nullable(Date),
    cost_centres  Map(String, Decimal(12, 9)),
    vendor        String,
    contract_ref  String,
    version       UInt64,
    is_deleted    UInt8,
    updated_at    DateTime64(3, 'UTC') DEFAULT now64(3)
)
ENGINE = ReplacingMergeTree(version, is_deleted)
ORDER BY pool_id
TTL toDateTime(updated_at) + INTERVAL 10 YEAR;

CREATE TABLE IF NOT EXISTS directory_people
(
    user_key      String,
    alias_keys    Array(String),
    manager_key   String,
    display_name  String,
    department    LowCardinality(String),
    cost_centre   LowCardinality(String),
    status        LowCardinality(String),
    leaving_date  Nullable(Date),
    employee_type LowCardinality(String),
    location      LowCardinality(String),
    key_id        LowCardinality(String),
    version       UInt64,
    is_deleted    UInt8,
    updated_at    DateTime64(3, 'UTC') DEFAULT now64(3)
)
ENGINE = ReplacingMergeTree(version, is_deleted)
ORDER BY user_key
TTL toDateTime(updated_at) + INTERVAL 10 YEAR;

CREATE TABLE IF NOT EXISTS inventory_software
(
    device_id    String,
    snapshot_id  String,
    taken_at     DateTime64(3, 'UTC'),
    source       LowCardinality(String),
    hostname     String,
    os           LowCardinality(String),
    os_version   String,
    cpu_cores    Nullable(UInt32),
    cpu_sockets  Nullable(UInt32),
    machine      LowCardinality(String),
    device_group LowCardinality(String),
    environment  LowCardinality(String),
    name         String,
    publisher    String,
    version      String,
    install_path String,
    install_date Nullable(Date),
    retired      UInt8
)
ENGINE = ReplacingMergeTree(taken_at)
PARTITION BY toYYYYMM(taken_at)
ORDER BY (device_id, snapshot_id, name, version, install_path)
TTL toDateTime(taken_at) + INTERVAL 400 DAY;

CREATE VIEW IF NOT EXISTS inventory_latest AS
SELECT *
FROM inventory_software FINAL
WHERE (device_id, taken_at) IN (
    SELECT device_id, max(taken_at) FROM inventory_software GROUP BY device_id
)
AND retired = 0;
