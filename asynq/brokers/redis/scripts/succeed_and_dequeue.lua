-- Finish a batch of active tasks of one queue, then lease up to N of its pending tasks: a
-- worker's settle-and-refill in one call. The successes are written first, so the slots they
-- free can be part of N.
-- KEYS[1] pending, KEYS[2] paused flag, KEYS[3] active, KEYS[4] lease zset, KEYS[5] completed
-- zset, KEYS[6] processed:<day>, KEYS[7] processed total, then per task as in succeed.lua
-- ARGV[1] lease expiry, ARGV[2] task key prefix, ARGV[3] N, ARGV[4] lease token (as dequeue.lua),
-- ARGV[5] day counter expiry, then per task as in succeed.lua
-- Returns {per-task 1/0 as succeed.lua, flat list of leased tasks as dequeue.lua}.
local done = succeed_tasks(KEYS[3], KEYS[4], 5, 5)
return {done, lease_pending(KEYS[1], KEYS[2], KEYS[3], KEYS[4], ARGV[1], ARGV[2], ARGV[3], ARGV[4])}
