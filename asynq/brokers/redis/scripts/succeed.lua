-- Finish active tasks of one queue: delete each, or keep it as completed until its expiry
-- when retained. One call settles a batch; each task is fenced on its own lease.
-- KEYS[1] active, KEYS[2] lease, KEYS[3] completed zset, KEYS[4] processed:<day>,
-- KEYS[5] processed total, then per task: its hash, followed by its unique lock if it has one
-- ARGV[1] day counter expiry (unix s), then per task five values: id, token,
-- updated msg or "", completed-task expiry (unix s) or "", "1" if a unique lock key follows
-- its hash in KEYS else "0"
-- Returns a list with, per task in order, 1 done or 0 lease lost (nothing changed for it).
local out = {}
local done = 0
local k = 6
for a = 2, #ARGV, 5 do
  local id, token, msg, expires = ARGV[a], ARGV[a + 1], ARGV[a + 2], ARGV[a + 3]
  local task = KEYS[k]
  local lock = nil
  if ARGV[a + 4] == "1" then lock = KEYS[k + 1]; k = k + 2 else k = k + 1 end
  -- The hash is deleted right after, so its lease_token field is left for DEL to drop.
  if release_lease(KEYS[1], KEYS[2], task, id, token, "", expires == "") then
    if lock and redis.call("GET", lock) == id then
      redis.call("DEL", lock)
    end
    if expires == "" then
      redis.call("DEL", task)
    else
      redis.call("ZADD", KEYS[3], expires, id)
      redis.call("HSET", task, "msg", msg, "state", "completed")
    end
    done = done + 1
    table.insert(out, 1)
  else
    table.insert(out, 0)
  end
end
if done > 0 then count(KEYS[4], KEYS[5], ARGV[1], done) end
return out
