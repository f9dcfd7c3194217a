-- Shared by every script that takes a task out of "active" (prepended by scripts.py).
-- The lease is fenced: the task must still be leased under the caller's token, and, for the
-- recoverer, still expired. Returns true when the task was released from active and lease.
local function release_lease(active, lease, task, id, token, expired_by)
  if (redis.call("HGET", task, "lease_token") or "") ~= token then return false end
  local score = redis.call("ZSCORE", lease, id)
  if not score then return false end
  if expired_by ~= "" and tonumber(score) > tonumber(expired_by) then return false end
  redis.call("LREM", active, 0, id)
  redis.call("ZREM", lease, id)
  redis.call("HDEL", task, "lease_token")
  return true
end

-- Daily counters expire 90 days after their day; lifetime counters never do.
local function count(day_key, total_key, day_expire_at)
  if redis.call("INCR", day_key) == 1 then
    redis.call("EXPIREAT", day_key, day_expire_at)
  end
  redis.call("INCR", total_key)
end
