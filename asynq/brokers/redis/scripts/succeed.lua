-- Finish an active task: delete it, or keep it as completed until ARGV[5] when retained.
-- KEYS[1] active, KEYS[2] lease, KEYS[3] task, KEYS[4] completed zset,
-- KEYS[5] processed:<day>, KEYS[6] processed total, KEYS[7] unique lock (optional)
-- ARGV[1] id, ARGV[2] token, ARGV[3] day counter expiry (unix s), ARGV[4] updated msg or "",
-- ARGV[5] completed-task expiry (unix s) or ""
-- Returns 1 done, 0 lease lost.
if not release_lease(KEYS[1], KEYS[2], KEYS[3], ARGV[1], ARGV[2], "") then return 0 end
if #KEYS == 7 and redis.call("GET", KEYS[7]) == ARGV[1] then
  redis.call("DEL", KEYS[7])
end
if ARGV[5] == "" then
  redis.call("DEL", KEYS[3])
else
  redis.call("ZADD", KEYS[4], ARGV[5], ARGV[1])
  redis.call("HSET", KEYS[3], "msg", ARGV[4], "state", "completed")
end
count(KEYS[5], KEYS[6], ARGV[3])
return 1
