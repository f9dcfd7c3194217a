-- Lease up to N pending tasks of one queue, oldest first, unless the queue is paused.
-- KEYS[1] pending, KEYS[2] paused flag, KEYS[3] active, KEYS[4] lease zset
-- ARGV[1] lease expiry (unix s), ARGV[2] task key prefix, ARGV[3] N, ARGV[4] lease token
-- Returns a flat list: id1, msg1, state1, id2, msg2, state2, ... (state: as stored before the
-- lease, "" if none, so the caller can archive a task in a state it does not know).
-- Task keys are built here because the IDs are only known once popped; the prefix carries
-- the queue's hash tag, so they live in the same cluster slot as KEYS.
if redis.call("EXISTS", KEYS[2]) == 1 then return {} end
local out = {}
for _ = 1, tonumber(ARGV[3]) do
  local id = redis.call("RPOPLPUSH", KEYS[1], KEYS[3])
  if not id then break end
  local key = ARGV[2] .. id
  local state = redis.call("HGET", key, "state") or ""
  redis.call("HSET", key, "state", "active", "lease_token", ARGV[4])
  redis.call("HDEL", key, "pending_since")
  redis.call("ZADD", KEYS[4], ARGV[1], id)
  table.insert(out, id)
  table.insert(out, redis.call("HGET", key, "msg") or "")
  table.insert(out, state)
end
return out
