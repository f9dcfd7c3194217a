-- List active tasks whose lease expired.
-- KEYS[1] lease zset; ARGV[1] now (unix s), ARGV[2] task key prefix, ARGV[3] batch size
-- Returns a flat list: id, msg, token, ... (task keys from the prefix, same hash tag).
local out = {}
local ids = redis.call("ZRANGEBYSCORE", KEYS[1], "-inf", ARGV[1], "LIMIT", 0, tonumber(ARGV[3]))
for _, id in ipairs(ids) do
  local fields = redis.call("HMGET", ARGV[2] .. id, "msg", "lease_token")
  table.insert(out, id)
  table.insert(out, fields[1] or "")
  table.insert(out, fields[2] or "")
end
return out
