-- Move due tasks from a scheduled or retry set to pending.
-- KEYS[1] scheduled or retry zset, KEYS[2] pending list
-- ARGV[1] now (unix s), ARGV[2] task key prefix, ARGV[3] now (unix ns), ARGV[4] batch size,
-- ARGV[5] wake-up channel, ARGV[6] queue name
-- Returns how many moved. Task keys come from the prefix (the queue's hash tag).
local ids = redis.call("ZRANGEBYSCORE", KEYS[1], "-inf", ARGV[1], "LIMIT", 0, tonumber(ARGV[4]))
for _, id in ipairs(ids) do
  redis.call("LPUSH", KEYS[2], id)
  redis.call("ZREM", KEYS[1], id)
  redis.call("HSET", ARGV[2] .. id, "state", "pending", "pending_since", ARGV[3])
end
if #ids > 0 then redis.call("PUBLISH", ARGV[5], ARGV[6]) end
return #ids
