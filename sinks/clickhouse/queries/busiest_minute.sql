-- The minute with the most users over all products, each source counted by its best measure
-- (users_per_minute.sql); the earliest such minute on a tie.
-- Parameters: {start:DateTime}, {end:DateTime} (inclusive minutes), as users_per_minute.sql takes them.
SELECT minute
FROM
(
/* include users_per_minute */
)
GROUP BY minute
ORDER BY sum(users) DESC, minute
LIMIT 1
