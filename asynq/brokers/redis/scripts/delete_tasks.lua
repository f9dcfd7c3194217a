-- Delete one task, or a batch of one state, in any state but active; a uniqueness lock the
-- task holds is released with it.
-- KEYS[1] pending, KEYS[2] scheduled, KEYS[3] retry, KEYS[4] archived, KEYS[5] completed,
-- KEYS[6] the task hash (one-task form only)
-- ARGV[1] the task's id (one-task form) or the state to delete a batch of, ARGV[2] task key
-- prefix, ARGV[3] batch size, ARGV[4] queue key prefix
-- Returns, one-task form: 1 deleted, 0 no such task, or the task's state if it cannot be
-- deleted; batch form: how many deleted.
-- Task keys built here come from the task key prefix; a lock key is read from the task and
-- used only if it starts with the queue key prefix: both carry the queue's hash tag.
local sources = {pending = KEYS[1], scheduled = KEYS[2], retry = KEYS[3], archived = KEYS[4],
                 completed = KEYS[5]}
return for_tasks(sources, function(id, key, state)
  unindex(sources, id, state)
  local lock = redis.call("HGET", key, "unique_key")
  if lock and string.sub(lock, 1, #ARGV[4]) == ARGV[4] and redis.call("GET", lock) == id then
    redis.call("DEL", lock)
  end
  redis.call("DEL", key)
end)
