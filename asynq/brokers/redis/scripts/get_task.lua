-- Read one task with the score of its index entry.
-- KEYS[1] task hash, KEYS[2] lease, KEYS[3] scheduled, KEYS[4] retry, KEYS[5] archived,
-- KEYS[6] completed; ARGV[1] id
-- Returns {msg, state, score or "", pending_since or "", result or ""}, or {} if no such task.
local f = redis.call("HMGET", KEYS[1], "msg", "state", "pending_since", "result")
if not f[1] then return {} end
local index = {active = KEYS[2], scheduled = KEYS[3], retry = KEYS[4], archived = KEYS[5],
               completed = KEYS[6]}
local score = index[f[2]] and redis.call("ZSCORE", index[f[2]], ARGV[1])
return {f[1], f[2], score or "", f[3] or "", f[4] or ""}
