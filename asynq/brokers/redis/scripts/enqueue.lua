-- Store a batch of new tasks of one queue (one task is a batch of one): each as pending, or as
-- scheduled when it has a due time. Each task is checked and stored as if on its own, in order.
-- KEYS[1] pending list, KEYS[2] scheduled zset, KEYS[3] the queue registry (asynq:queues) if
-- ARGV[4] is "1" (one server; on Redis Cluster it is in another slot and the caller adds the
-- queue to it), then per task: its hash, then its unique lock if it has a lock TTL.
-- ARGV[1] now (unix ns), ARGV[2] wake-up channel, ARGV[3] queue name, ARGV[4] "1" or "0",
-- then 4 per task: msg, id, due time (unix s) or "", unique lock TTL (ms) or "" (no lock).
-- Returns one outcome per task, in order: 1 stored pending, 2 stored scheduled,
-- 0 ID taken by another task, -1 duplicate. Publishes one wake-up if any task became pending.
local out = {}
local pushed = {}
local k = 3
if ARGV[4] == "1" then
  redis.call("SADD", KEYS[3], ARGV[3])
  k = 4
end
for i = 5, #ARGV, 4 do
  local msg, id, due, ttl = ARGV[i], ARGV[i + 1], ARGV[i + 2], ARGV[i + 3]
  local key = KEYS[k]
  local lock = false
  if ttl ~= "" then lock = KEYS[k + 1]; k = k + 2 else k = k + 1 end
  local result
  if redis.call("EXISTS", key) == 1 then
    -- The same message stored again is a retried call, not a conflict.
    local stored = redis.call("HMGET", key, "msg", "state")
    if stored[1] ~= msg then result = 0
    elseif stored[2] == "scheduled" then result = 2
    else result = 1 end
  elseif lock and not redis.call("SET", lock, id, "NX", "PX", ttl) then
    result = -1
  elseif due == "" then
    if lock then
      redis.call("HSET", key, "state", "pending", "pending_since", ARGV[1], "msg", msg, "unique_key", lock)
    else
      redis.call("HSET", key, "state", "pending", "pending_since", ARGV[1], "msg", msg)
    end
    pushed[#pushed + 1] = id
    result = 1
  else
    if lock then
      redis.call("HSET", key, "state", "scheduled", "msg", msg, "unique_key", lock)
    else
      redis.call("HSET", key, "state", "scheduled", "msg", msg)
    end
    redis.call("ZADD", KEYS[2], due, id)
    result = 2
  end
  out[#out + 1] = result
end
if #pushed > 0 then
  redis.call("LPUSH", KEYS[1], unpack(pushed))
  redis.call("PUBLISH", ARGV[2], ARGV[3])
end
return out
