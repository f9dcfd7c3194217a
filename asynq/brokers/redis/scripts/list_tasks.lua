-- List one page of a queue's tasks in one state.
-- KEYS[1] the state's list (pending, active) or zset, KEYS[2] (lists only, optional) a zset
-- giving list entries their score (the lease for active)
-- ARGV[1] "list" or "zset", ARGV[2] first position, ARGV[3] last position, ARGV[4] task key prefix
-- Lists are read from the right, so position 0 is the next task to be processed.
-- Returns a flat list: id, msg, score or "", pending_since or "", result or "", ...
-- Task keys come from the prefix, which carries the queue's hash tag.
local first, last = tonumber(ARGV[2]), tonumber(ARGV[3])
local ids, scores = {}, {}
if ARGV[1] == "list" then
  local page = redis.call("LRANGE", KEYS[1], -last - 1, -first - 1)
  for i = #page, 1, -1 do
    local id = page[i]
    table.insert(ids, id)
    scores[id] = KEYS[2] and redis.call("ZSCORE", KEYS[2], id) or ""
  end
else
  local page = redis.call("ZRANGE", KEYS[1], first, last, "WITHSCORES")
  for i = 1, #page, 2 do
    table.insert(ids, page[i])
    scores[page[i]] = page[i + 1]
  end
end
local out = {}
for _, id in ipairs(ids) do
  local f = redis.call("HMGET", ARGV[4] .. id, "msg", "pending_since", "result")
  if f[1] then  -- skip an index entry whose task is gone
    table.insert(out, id)
    table.insert(out, f[1])
    table.insert(out, scores[id] or "")
    table.insert(out, f[2] or "")
    table.insert(out, f[3] or "")
  end
end
return out
