-- Shared by succeed and succeed_and_dequeue (prepended by scripts.py, after _lease.lua).
-- Finish active tasks of one queue: delete each, or keep it as completed until its expiry
-- when retained. Each task is fenced on its own lease.
-- KEYS[k], KEYS[k+1], KEYS[k+2]: completed zset, processed:<day>, processed total; then per
-- task: its hash, followed by its unique lock if it has one.
-- ARGV[a]: day counter expiry (unix s); then per task five values: id, token, updated msg or
-- "", completed-task expiry (unix s) or "", "1" if a unique lock key follows its hash else "0".
-- Returns a list with, per task in order, 1 done or 0 lease lost (nothing changed for it).
local function succeed_tasks(active, lease, k, a)
  local completed, day_key, total_key, day_expiry = KEYS[k], KEYS[k + 1], KEYS[k + 2], ARGV[a]
  local out = {}
  local done = 0
  k = k + 3
  for i = a + 1, #ARGV, 5 do
    local id, token, msg, expires = ARGV[i], ARGV[i + 1], ARGV[i + 2], ARGV[i + 3]
    local task = KEYS[k]
    local lock = nil
    if ARGV[i + 4] == "1" then lock = KEYS[k + 1]; k = k + 2 else k = k + 1 end
    -- The hash is deleted right after, so its lease_token field is left for DEL to drop.
    if release_lease(active, lease, task, id, token, "", expires == "") then
      if lock and redis.call("GET", lock) == id then
        redis.call("DEL", lock)
      end
      if expires == "" then
        redis.call("DEL", task)
      else
        redis.call("ZADD", completed, expires, id)
        redis.call("HSET", task, "msg", msg, "state", "completed")
      end
      done = done + 1
      table.insert(out, 1)
    else
      table.insert(out, 0)
    end
  end
  if done > 0 then count(day_key, total_key, day_expiry, done) end
  return out
end
