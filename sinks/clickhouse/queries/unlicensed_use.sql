-- Unlicensed use: products in use that no license pool covers, most users first.
-- Parameters: {since:DateTime64(3)} (start of the window).
SELECT product, vendor, license_model, users, devices, round(active_seconds / 3600, 1) AS active_hours,
       first_seen, last_seen
FROM unlicensed_use
WHERE last_seen >= {since:DateTime64(3)}
ORDER BY users DESC, product
