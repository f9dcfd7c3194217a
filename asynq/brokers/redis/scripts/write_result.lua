-- Store a handler's result on its task while the caller still holds the lease.
-- KEYS[1] task hash; ARGV[1] lease token, ARGV[2] result bytes
-- Returns 1 stored, 0 lease lost.
if (redis.call("HGET", KEYS[1], "lease_token") or "") ~= ARGV[1]
    or redis.call("HGET", KEYS[1], "state") ~= "active" then
  return 0
end
redis.call("HSET", KEYS[1], "result", ARGV[2])
return 1
