-- Delete a queue: its tasks (releasing the uniqueness locks they hold), indexes, pause flag
-- and counters. Removing the name from asynq:queues is the caller's next step (another slot).
-- KEYS[1] pending, KEYS[2] active, KEYS[3] scheduled, KEYS[4] retry, KEYS[5] archived,
-- KEYS[6] completed, KEYS[7..] the queue's other keys (lease, paused, counters)
-- ARGV[1] "1" to delete tasks too, ARGV[2] task key prefix, ARGV[3] queue key prefix
-- Returns {1} removed, {0, n} n active tasks, or {-1, n} n tasks and not forced.
-- Task keys come from the task key prefix; a lock key read from a task is used only if it
-- starts with the queue key prefix: both carry the queue's hash tag.
local active = redis.call("LLEN", KEYS[2])
if active > 0 then return {0, active} end
local total = redis.call("LLEN", KEYS[1])
for i = 3, 6 do total = total + redis.call("ZCARD", KEYS[i]) end
if total > 0 and ARGV[1] ~= "1" then return {-1, total} end
local ids = redis.call("LRANGE", KEYS[1], 0, -1)
for i = 3, 6 do
  for _, id in ipairs(redis.call("ZRANGE", KEYS[i], 0, -1)) do table.insert(ids, id) end
end
for _, id in ipairs(ids) do
  local key = ARGV[2] .. id
  local lock = redis.call("HGET", key, "unique_key")
  if lock and string.sub(lock, 1, #ARGV[3]) == ARGV[3] and redis.call("GET", lock) == id then
    redis.call("DEL", lock)
  end
  redis.call("DEL", key)
end
redis.call("DEL", unpack(KEYS))
return {1}
