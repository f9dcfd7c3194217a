-- Move an active task to the retry set, due at ARGV[4].
-- KEYS[1] active, KEYS[2] lease, KEYS[3] task, KEYS[4] retry zset,
-- KEYS[5] processed:<day>, KEYS[6] processed total, KEYS[7] failed:<day>, KEYS[8] failed total
-- ARGV[1] id, ARGV[2] token, ARGV[3] "expired by" time or "", ARGV[4] retry at (unix s),
-- ARGV[5] updated msg, ARGV[6] "1" to count a failure, ARGV[7] day counter expiry
-- Returns 1 moved, 0 lease lost (or no longer expired).
if not release_lease(KEYS[1], KEYS[2], KEYS[3], ARGV[1], ARGV[2], ARGV[3]) then return 0 end
redis.call("ZADD", KEYS[4], ARGV[4], ARGV[1])
redis.call("HSET", KEYS[3], "msg", ARGV[5], "state", "retry")
if ARGV[6] == "1" then
  count(KEYS[5], KEYS[6], ARGV[7])
  count(KEYS[7], KEYS[8], ARGV[7])
end
return 1
