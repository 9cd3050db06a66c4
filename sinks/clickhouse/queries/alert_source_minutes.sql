-- The minutes in which each source (a device, a connector) sent data, in order, for the sync-gap rule.
-- Parameters: {start:DateTime64(3)} (first minute).
SELECT DISTINCT kind, subject, minute
FROM source_activity
WHERE minute >= {start:DateTime64(3)}
ORDER BY kind, subject, minute
