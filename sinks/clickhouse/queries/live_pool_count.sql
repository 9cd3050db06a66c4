-- How many license pools are live: the shadow-IT report judges products unapproved only once there is one.
SELECT count() AS live_pools
FROM license_pools FINAL
WHERE is_deleted = 0
