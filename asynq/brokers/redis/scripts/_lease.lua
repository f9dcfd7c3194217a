-- Shared by every script that takes a task out of "active" (prepended by scripts.py).
-- The lease is fenced: the task must still be leased under the caller's token, and, for the
-- recoverer, still expired. Returns true when the task was released from active and lease.
-- keep_token: leave the hash's lease_token field (for a caller that deletes the hash next).
local function release_lease(active, lease, task, id, token, expired_by, keep_token)
  if (redis.call("HGET", task, "lease_token") or "") ~= token then return false end
  local score = redis.call("ZSCORE", lease, id)
  if not score then return false end
  if expired_by ~= "" and tonumber(score) > tonumber(expired_by) then return false end
  redis.call("LREM", active, 0, id)
  redis.call("ZREM", lease, id)
  if not keep_token then redis.call("HDEL", task, "lease_token") end
  return true
end

-- Daily counters expire 90 days after their day; lifetime counters never do.
-- n: how many to count (default 1).
local function count(day_key, total_key, day_expire_at, n)
  n = n or 1
  if redis.call("INCRBY", day_key, n) == n then
    redis.call("EXPIREAT", day_key, day_expire_at)
  end
  redis.call("INCRBY", total_key, n)
end
