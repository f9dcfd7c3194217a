-- Record a server and its busy workers, both expiring after the TTL.
-- KEYS[1] asynq:servers:{<host>:<pid>:<sid>}, KEYS[2] asynq:workers:{<host>:<pid>:<sid>}
-- ARGV[1] TTL (ms), ARGV[2] ServerInfo bytes, then task id, WorkerInfo bytes pairs
redis.call("SET", KEYS[1], ARGV[2], "PX", ARGV[1])
redis.call("DEL", KEYS[2])
for i = 3, #ARGV, 2 do
  redis.call("HSET", KEYS[2], ARGV[i], ARGV[i + 1])
end
redis.call("PEXPIRE", KEYS[2], ARGV[1])
return 1
