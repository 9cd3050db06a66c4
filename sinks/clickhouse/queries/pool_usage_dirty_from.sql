-- The earliest minute touched by sessions or usage rows written after {since:DateTime64(3)};
-- 2106-01-01 when nothing was written since.
SELECT least(
    ifNull((SELECT minOrNull(started_at) FROM usage_session_versions WHERE written_at > {since:DateTime64(3)}),
           toDateTime64('2106-01-01 00:00:00', 3, 'UTC')),
    ifNull((SELECT minOrNull(minute) FROM product_usage_1m_parts WHERE inserted_at > {since:DateTime64(3)}),
           toDateTime64('2106-01-01 00:00:00', 3, 'UTC'))) AS dirty_from
