-- Extend the leases a worker still holds; never revive one that is gone.
-- KEYS[1] lease zset, KEYS[2..] task hashes
-- ARGV[1] new expiry (unix s), then id, token pairs in the order of KEYS[2..]
-- Returns the IDs whose lease was lost.
local lost = {}
for i = 2, #KEYS do
  local id, token = ARGV[2 * i - 2], ARGV[2 * i - 1]
  if (redis.call("HGET", KEYS[i], "lease_token") or "") == token
      and redis.call("ZSCORE", KEYS[1], id) then
    redis.call("ZADD", KEYS[1], "XX", ARGV[1], id)
  else
    table.insert(lost, id)
  end
end
return lost
