-- Shadow IT: software in use that nobody vetted, with how many people and devices used it.
-- `reason` says why a row is listed:
--   unknown     the catalog does not know the executable;
--   unapproved  a known product that no license pool covers and that is not approved. A pool
--               covers a product that it names (id or name) or that belongs to one of its suites;
--               a pool whose term ended before the window covers nothing. Products with only
--               exempt license models (free, open source by default) are never unapproved.
-- Parameters:
--   {since:DateTime}           start of the window
--   {judge_unapproved:Bool}    false lists unknown executables only (no approval data yet)
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
    if(category = 'unknown', 'unknown', 'unapproved') AS reason,
    active_hours,
    events,
    first_seen,
    last_seen
FROM
(
    SELECT
        u.category                                AS category,
        u.product                                 AS software,
        u.users                                   AS users,
        u.devices                                 AS devices,
        toDecimal128(a.active_seconds, 3) / 3600  AS active_hours,
        u.events                                  AS events,
        u.first_seen                              AS first_seen,
        u.last_seen                               AS last_seen
    FROM
    (
        SELECT
            category,
            product,
            uniqExactArray(users)   AS users,
            uniqExactArray(devices) AS devices,
            sum(event_count)        AS events,
            min(minute)             AS first_seen,
            max(minute)             AS last_seen
        FROM product_usage_1m_parts
        WHERE minute >= {since:DateTime}
          AND (category = 'unknown' OR (category = 'application' AND {judge_unapproved:Bool}))
        GROUP BY category, product
    ) AS u
    -- active time as product_usage_per_minute caps it (per device and user, at the clock)
    LEFT JOIN
    (
        SELECT product, sum(active_seconds) AS active_seconds
        FROM product_usage_per_minute
        WHERE minute >= {since:DateTime}
        GROUP BY product
    ) AS a ON a.product = u.product
)
WHERE category = 'unknown'
   OR NOT (
          has({exempt:Array(String)}, lower(software))
       OR hasAny({approved:Array(String)}, product_keys)
       OR hasAny(pool_products, product_keys)
       OR hasAny(pool_suites, product_suites)
   )
ORDER BY users DESC, devices DESC, reason, software
