-- Store a new task as pending, or as scheduled when a due time is given.
-- KEYS[1] task hash, KEYS[2] pending list, KEYS[3] scheduled zset, KEYS[4] unique lock (optional)
-- ARGV[1] msg, ARGV[2] id, ARGV[3] now (unix ns), ARGV[4] due time (unix s) or "",
-- ARGV[5] unique lock TTL (ms) or "", ARGV[6] wake-up channel, ARGV[7] queue name
-- Returns 1 stored pending, 2 stored scheduled, 0 ID taken by another task, -1 duplicate.
if redis.call("EXISTS", KEYS[1]) == 1 then
  -- The same message stored again is a retried call, not a conflict.
  if redis.call("HGET", KEYS[1], "msg") ~= ARGV[1] then return 0 end
  if redis.call("HGET", KEYS[1], "state") == "scheduled" then return 2 end
  return 1
end
local fields = {"msg", ARGV[1]}
if #KEYS == 4 then
  if not redis.call("SET", KEYS[4], ARGV[2], "NX", "PX", ARGV[5]) then return -1 end
  table.insert(fields, "unique_key")
  table.insert(fields, KEYS[4])
end
if ARGV[4] == "" then
  redis.call("HSET", KEYS[1], "state", "pending", "pending_since", ARGV[3], unpack(fields))
  redis.call("LPUSH", KEYS[2], ARGV[2])
  redis.call("PUBLISH", ARGV[6], ARGV[7])
  return 1
end
redis.call("HSET", KEYS[1], "state", "scheduled", unpack(fields))
redis.call("ZADD", KEYS[3], ARGV[4], ARGV[2])
return 2
