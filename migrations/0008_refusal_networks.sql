-- Which client network (src/lib/ip.ts clientNetwork: an IPv4 address, an IPv6 /64) started each
-- row of management_refusals, so one network cannot fill an hour's rows and push everyone else's
-- refusals into the overflow (src/audit/refusals.ts: at most REFUSAL_ROWS_PER_NETWORK new rows per
-- network an hour). NULL on overflow rows of the whole hour and on rows from before this migration.
ALTER TABLE management_refusals ADD COLUMN network TEXT;
CREATE INDEX management_refusals_network ON management_refusals (hour, network);
