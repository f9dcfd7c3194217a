-- Give every active task without a lease an expired one, so the recoverer picks it up.
-- KEYS[1] active list, KEYS[2] lease zset; ARGV[1] now (unix s)
-- Returns how many were orphaned.
local n = 0
for _, id in ipairs(redis.call("LRANGE", KEYS[1], 0, -1)) do
  if not redis.call("ZSCORE", KEYS[2], id) then
    redis.call("ZADD", KEYS[2], ARGV[1], id)
    n = n + 1
  end
end
return n
