-- Return an active task to the head of its pending list (worker shutdown).
-- KEYS[1] active, KEYS[2] lease, KEYS[3] task, KEYS[4] pending
-- ARGV[1] id, ARGV[2] token, ARGV[3] now (unix ns), ARGV[4] wake-up channel, ARGV[5] queue
-- Returns 1 requeued, 0 lease lost.
if not release_lease(KEYS[1], KEYS[2], KEYS[3], ARGV[1], ARGV[2], "") then return 0 end
redis.call("RPUSH", KEYS[4], ARGV[1])
redis.call("HSET", KEYS[3], "state", "pending", "pending_since", ARGV[3])
redis.call("PUBLISH", ARGV[4], ARGV[5])
return 1
