-- Shared by dequeue and succeed_and_dequeue (prepended by scripts.py).
-- Lease up to n pending tasks of one queue, oldest first, unless the queue is paused.
-- Returns a flat list: id1, msg1, state1, id2, msg2, state2, ... (state: as stored before the
-- lease, "" if none, so the caller can archive a task in a state it does not know).
-- Task keys are built here because the IDs are only known once popped; the prefix carries
-- the queue's hash tag, so they live in the same cluster slot as the queue's keys.
local function lease_pending(pending, paused, active, lease, expiry, prefix, n, token)
  if redis.call("EXISTS", paused) == 1 then return {} end
  local out = {}
  for _ = 1, tonumber(n) do
    local id = redis.call("RPOPLPUSH", pending, active)
    if not id then break end
    local key = prefix .. id
    local state = redis.call("HGET", key, "state") or ""
    redis.call("HSET", key, "state", "active", "lease_token", token)
    redis.call("HDEL", key, "pending_since")
    redis.call("ZADD", lease, expiry, id)
    table.insert(out, id)
    table.insert(out, redis.call("HGET", key, "msg") or "")
    table.insert(out, state)
  end
  return out
end
