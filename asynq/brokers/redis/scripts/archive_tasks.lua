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
local moved = for_tasks(sources, function(id, key, state)
  unindex(sources, id, state)
  redis.call("ZADD", KEYS[4], ARGV[4], id)
  redis.call("HSET", key, "state", "archived")
  redis.call("HDEL", key, "pending_since")
end)
if type(moved) ~= "number" then return moved end
trim_archive(KEYS[4], ARGV[2], ARGV[5], ARGV[6])
return moved
