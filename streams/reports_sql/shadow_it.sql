-- Shadow IT: executables the catalog does not know, with how many people and devices used them.
-- Parameters: {since:DateTime} (start of the window).
SELECT
    product                                   AS executable,
    uniqExactArray(users)                     AS users,
    uniqExactArray(devices)                   AS devices,
    toDecimal128(sum(active_ms), 3) / 3600000 AS active_hours,
    sum(event_count)                          AS events,
    min(minute)                               AS first_seen,
    max(minute)                               AS last_seen
FROM product_usage_1m_parts
WHERE category = 'unknown' AND minute >= {since:DateTime}
GROUP BY product
ORDER BY users DESC, devices DESC, executable
