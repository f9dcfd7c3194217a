-- Run tasks now: move one task, or a batch of one state, from scheduled, retry or archived
-- to pending.
-- KEYS[1] pending, KEYS[2] scheduled, KEYS[3] retry, KEYS[4] archived, KEYS[5] completed
-- (unused: run, archive and delete share one KEYS layout), KEYS[6] the task hash (one-task
-- form only)
-- ARGV[1] the task's id (one-task form) or the state to move a batch from, ARGV[2] task key
-- prefix, ARGV[3] batch size, ARGV[4] now (unix ns), ARGV[5] wake-up channel, ARGV[6] queue
-- Returns, one-task form: 1 moved, 0 no such task, or the task's state if it cannot run;
-- batch form: how many moved. Batch task keys come from the prefix (the queue's hash tag).
local sources = {scheduled = KEYS[2], retry = KEYS[3], archived = KEYS[4]}
local moved = for_tasks(sources, function(id, key, state)
  unindex(sources, id, state)
  redis.call("LPUSH", KEYS[1], id)
  redis.call("HSET", key, "state", "pending", "pending_since", ARGV[4])
end)
if type(moved) == "number" and moved > 0 then redis.call("PUBLISH", ARGV[5], ARGV[6]) end
return moved
