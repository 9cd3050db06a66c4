-- The agents' own resource figures, for telling a quiet device from a sick agent.
-- Keyed by device, time and event id, so a batch written again (a replay) collapses.

CREATE TABLE IF NOT EXISTS agent_health
(
    device_id       String,
    event_time      DateTime64(3, 'UTC'),
    event_id        String,
    agent_version   LowCardinality(String),
    cpu_percent     Float32,
    memory_bytes    UInt64,
    uptime_seconds  Float64,
    buffered_events UInt32
)
ENGINE = ReplacingMergeTree
PARTITION BY toYYYYMM(event_time)
ORDER BY (device_id, event_time, event_id)
TTL toDateTime(event_time) + INTERVAL 90 DAY;
