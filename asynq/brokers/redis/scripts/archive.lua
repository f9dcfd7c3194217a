-- Move an active task to the archive, then trim the archive by age and by size.
-- KEYS[1] active, KEYS[2] lease, KEYS[3] task, KEYS[4] archived zset,
-- KEYS[5] processed:<day>, KEYS[6] processed total, KEYS[7] failed:<day>, KEYS[8] failed total
-- ARGV[1] id, ARGV[2] token, ARGV[3] "expired by" time or "", ARGV[4] now (unix s),
-- ARGV[5] updated msg, ARGV[6] day counter expiry, ARGV[7] oldest archive time kept,
-- ARGV[8] max archive size, ARGV[9] task key prefix
-- Returns 1 archived, 0 lease lost (or no longer expired).
if not release_lease(KEYS[1], KEYS[2], KEYS[3], ARGV[1], ARGV[2], ARGV[3]) then return 0 end
redis.call("ZADD", KEYS[4], ARGV[4], ARGV[1])
redis.call("HSET", KEYS[3], "msg", ARGV[5], "state", "archived")
trim_archive(KEYS[4], ARGV[9], ARGV[7], ARGV[8])
count(KEYS[5], KEYS[6], ARGV[6])
count(KEYS[7], KEYS[8], ARGV[6])
return 1
