-- Finish a batch of active tasks of one queue (see _succeed.lua).
-- KEYS[1] active, KEYS[2] lease, KEYS[3] completed zset, KEYS[4] processed:<day>,
-- KEYS[5] processed total, then per task: its hash, followed by its unique lock if it has one
-- ARGV[1] day counter expiry (unix s), then per task: id, token, msg or "", expiry or "", lock flag
return succeed_tasks(KEYS[1], KEYS[2], 3, 1)
