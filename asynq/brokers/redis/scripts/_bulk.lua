-- Shared by run_tasks, archive_tasks and delete_tasks (prepended by scripts.py). They share one
-- KEYS layout: KEYS[1] pending, KEYS[2] scheduled, KEYS[3] retry, KEYS[4] archived,
-- KEYS[5] completed, KEYS[6] the task hash (one-task form only); and ARGV[1] the task's id
-- (one-task form) or the state to take a batch from, ARGV[2] task key prefix, ARGV[3] batch size.

-- Take a task out of the index of its state ("pending" is a list, the others are zsets).
local function unindex(sources, id, state)
  if state == "pending" then
    redis.call("LREM", sources.pending, -1, id)
  else
    redis.call("ZREM", sources[state], id)
  end
end

-- Apply act(id, task key, state) to the one task, or to a batch of the state ARGV[1] (oldest
-- first). Returns, one-task form: 1 done, 0 no such task, or the task's state when `sources`
-- has no entry for it (the action does not apply); batch form: how many. Batch task keys come
-- from the prefix, which carries the queue's hash tag.
local function for_tasks(sources, act)
  if #KEYS == 6 then
    local state = redis.call("HGET", KEYS[6], "state")
    if not state then return 0 end
    if not sources[state] then return state end
    act(ARGV[1], KEYS[6], state)
    return 1
  end
  local n, ids = tonumber(ARGV[3])
  if ARGV[1] == "pending" then
    ids = redis.call("LRANGE", sources.pending, -n, -1)
  else
    ids = redis.call("ZRANGE", sources[ARGV[1]], 0, n - 1)
  end
  for _, id in ipairs(ids) do act(id, ARGV[2] .. id, ARGV[1]) end
  return #ids
end
