-- Delete completed tasks whose retention ended.
-- KEYS[1] completed zset; ARGV[1] now (unix s), ARGV[2] task key prefix, ARGV[3] batch size
-- Returns how many were deleted. Task keys come from the prefix (same hash tag).
local ids = redis.call("ZRANGEBYSCORE", KEYS[1], "-inf", ARGV[1], "LIMIT", 0, tonumber(ARGV[3]))
for _, id in ipairs(ids) do
  redis.call("DEL", ARGV[2] .. id)
  redis.call("ZREM", KEYS[1], id)
end
return #ids
