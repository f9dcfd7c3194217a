-- Archive one task, or a batch of one state, from pending, scheduled or retry; then trim the
-- archive by age and by size as a worker's archive does.
-- KEYS[1] pending, KEYS[2] scheduled, KEYS[3] retry, KEYS[4] archived, KEYS[5] completed
-- (unused: run, archive and delete share one KEYS layout), KEYS[6] the task hash (one-task
-- form only)
-- ARGV[1] the task's id (one-task form) or the state to archive a batch from, ARGV[2] task
-- key prefix, ARGV[3] batch size, ARGV[4] now (unix s), ARGV[5] oldest archive time kept,
-- ARGV[6] max archive size
-- Returns, one-task form: 1 archived, 0 no such task, or the task's state if it cannot be
-- archived; batch form: how many archived. Task keys built here come from the prefix.
local sources = {pending = KEYS[1], scheduled = KEYS[2], retry = KEYS[3]}
local function archive(id, key, state)
  if state == "pending" then
    redis.call("LREM", KEYS[1], -1, id)
  else
    redis.call("ZREM", sources[state], id)
  end
  redis.call("ZADD", KEYS[4], ARGV[4], id)
  redis.call("HSET", key, "state", "archived")
  redis.call("HDEL", key, "pending_since")
end
local moved
if #KEYS == 6 then
  local state = redis.call("HGET", KEYS[6], "state")
  if not state then return 0 end
  if not sources[state] then return state end
  archive(ARGV[1], KEYS[6], state)
  moved = 1
else
  local n, ids = tonumber(ARGV[3])
  if ARGV[1] == "pending" then
    ids = redis.call("LRANGE", KEYS[1], -n, -1)
  else
    ids = redis.call("ZRANGE", sources[ARGV[1]], 0, n - 1)
  end
  for _, id in ipairs(ids) do archive(id, ARGV[2] .. id, ARGV[1]) end
  moved = #ids
end
trim_archive(KEYS[4], ARGV[2], ARGV[5], ARGV[6])
return moved
