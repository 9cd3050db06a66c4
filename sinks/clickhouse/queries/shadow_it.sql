-- Shadow IT: software in use that nobody vetted, with how many people and devices used it.
-- Each source counts by the best measure it has, named in `measure`: agents measure active use;
-- osquery only sees a process running; SSO logs see a sign-in. `hours` are hours of that measure.
-- `reason` says why a row is listed:
--   unknown       the catalog does not know the executable and nothing names it;
--   uncatalogued  an application the catalog does not know, named by its own evidence (signer
--                 and version resource) or a local correction: listed until a pool covers it
--                 or it is approved, even when nothing else is judged yet;
--   unapproved    a known product that no license pool covers and that is not approved. A pool
--               covers a product that it names (id or name) or that belongs to one of its suites;
--               a pool whose term ended before the window covers nothing. Products with only
--               exempt license models (free, open source by default) are never unapproved.
-- Parameters:
--   {since:DateTime}           start of the window
--   {judge_unapproved:Bool}    false lists unknown and uncatalogued software only (no approval data yet)
--   {names:Array(String)}      lower-case product names as usage rows show them, one per product,
--   {ids:Array(Array(String))} with their lower-case catalog ids and
--   {suites:Array(Array(String))} their lower-case suites, position by position
--   {exempt:Array(String)}     lower-case names of products with only exempt license models
--   {approved:Array(String)}   the approved list: lower-case product ids or names
WITH
    (
        SELECT groupUniqArrayArray(arrayMap(x -> lower(x), products))
        FROM license_pools FINAL
        WHERE is_deleted = 0 AND (term_end IS NULL OR term_end >= toDate({since:DateTime}))
    ) AS pool_products,
    (
        SELECT groupUniqArrayArray(arrayMap(x -> lower(x), suites))
        FROM license_pools FINAL
        WHERE is_deleted = 0 AND (term_end IS NULL OR term_end >= toDate({since:DateTime}))
    ) AS pool_suites,
    indexOf({names:Array(String)}, lower(software)) AS known_at,
    arrayPushBack({ids:Array(Array(String))}[known_at], lower(software)) AS product_keys,
    {suites:Array(Array(String))}[known_at] AS product_suites
SELECT
    software,
    users,
    devices,
    multiIf(kind = 'unknown', 'unknown', known_at = 0, 'uncatalogued', 'unapproved') AS reason,
    measure,
    hours,
    events,
    first_seen,
    last_seen
FROM
(
    SELECT
        product                                                        AS software,
        if(anyIf(category, category != '') != '', anyIf(category, category != ''),
           if(has({names:Array(String)}, lower(product)), 'application', 'unknown')) AS kind,
        uniqExactArray(row_users)                                      AS users,
        uniqExactArray(row_devices)                                    AS devices,
        arrayStringConcat(arraySort(groupUniqArrayIf(row_measure, row_measure != '')), ', ') AS measure,
        toDecimal128(sum(row_ms), 3) / 3600000                         AS hours,
        sum(row_events)                                                AS events,
        min(row_first)                                                 AS first_seen,
        max(row_last)                                                  AS last_seen
    FROM
    (
        -- Per-minute rows: every event's count and catalog category, and whether use was measured.
        SELECT
            product, category, users AS row_users, devices AS row_devices,
            if(active_ms > 0, 'active', '') AS row_measure, toUInt64(0) AS row_ms, toUInt64(event_count) AS row_events,
            minute AS row_first, minute AS row_last
        FROM product_usage_1m_parts
        WHERE minute >= {since:DateTime}
        UNION ALL
        -- Measured active time as product_usage_per_minute caps it (per device and user, at the clock).
        SELECT
            product, '' AS category, [] AS row_users, [] AS row_devices, '' AS row_measure,
            toUInt64(active_seconds * 1000) AS row_ms, toUInt64(0) AS row_events,
            minute AS row_first, minute AS row_last
        FROM product_usage_per_minute
        WHERE minute >= {since:DateTime}
        UNION ALL
        -- Sessions of sources that cannot measure activity: osquery sees a process running,
        -- SSO sees a sign-in. Their events are counted above already.
        SELECT
            product, '' AS category, [user_key] AS row_users, if(device_id = '', [], [device_id]) AS row_devices,
            if(signins > 0, 'signed in', 'running') AS row_measure,
            toUInt64(running_seconds * 1000) AS row_ms, toUInt64(0) AS row_events,
            toStartOfMinute(started_at) AS row_first, toStartOfMinute(ended_at) AS row_last
        FROM usage_sessions
        WHERE activity_measured = 0 AND ended_at >= {since:DateTime}
    )
    GROUP BY product
)
WHERE (kind = 'unknown' OR (kind = 'application' AND (known_at = 0 OR {judge_unapproved:Bool})))
  AND (kind = 'unknown'
   OR NOT (
          has({exempt:Array(String)}, lower(software))
       OR hasAny({approved:Array(String)}, product_keys)
       OR hasAny(pool_products, product_keys)
       OR hasAny(pool_suites, product_suites)
   ))
ORDER BY users DESC, devices DESC, reason, software
