-- Alerts as they stand now (the latest version of each): open ones first, newest first; with
-- {include_resolved:UInt8} = 1 also the resolved and withdrawn ones.
SELECT
    state,
    rule,
    summary,
    formatDateTime(opened_at, '%Y-%m-%d %H:%i') AS opened,
    ifNull(formatDateTime(resolved_at, '%Y-%m-%d %H:%i'), '') AS resolved
FROM alerts FINAL
WHERE state = 'open' OR {include_resolved:UInt8} = 1
ORDER BY state = 'open' DESC, opened_at DESC, rule, subject
LIMIT {limit:UInt32}
