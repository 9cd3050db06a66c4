-- Products in use that no license pool covers, with how many people used them, for the
-- unlicensed-use rule.
-- Parameters: {since:DateTime64(3)} (start of the window).
SELECT product, users
FROM unlicensed_use
WHERE last_seen >= {since:DateTime64(3)}
