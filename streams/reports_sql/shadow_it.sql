-- Shadow IT: software in use that nobody vetted, with how many people and devices used it.
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
    multiIf(category = 'unknown', 'unknown', known_at = 0, 'uncatalogued', 'unapproved') AS reason,
    active_hours,
    events,
    first_seen,
    last_seen
FROM
(
    SELECT
        category,
        product                                   AS software,
        uniqExactArray(users)                     AS users,
        uniqExactArray(devices)                   AS devices,
        toDecimal128(sum(active_ms), 3) / 3600000 AS active_hours,
        sum(event_count)                          AS events,
        min(minute)                               AS first_seen,
        max(minute)                               AS last_seen
    FROM product_usage_1m_parts
    WHERE minute >= {since:DateTime}
      AND category IN ('unknown', 'application')
    GROUP BY category, product
)
WHERE category = 'unknown'
   OR ((known_at = 0 OR {judge_unapproved:Bool}) AND NOT (
          has({exempt:Array(String)}, lower(software))
       OR hasAny({approved:Array(String)}, product_keys)
       OR hasAny(pool_products, product_keys)
       OR hasAny(pool_suites, product_suites)
   ))
ORDER BY users DESC, devices DESC, reason, software
