-- Read one queue's figures at once: sizes, counters, pause flag, oldest pending task, memory.
-- KEYS[1] pending, KEYS[2] active, KEYS[3] scheduled, KEYS[4] retry, KEYS[5] archived,
-- KEYS[6] completed, KEYS[7] lease, KEYS[8] paused, KEYS[9] processed:<day>,
-- KEYS[10] processed total, KEYS[11] failed:<day>, KEYS[12] failed total
-- ARGV[1] task key prefix, ARGV[2] how many task hashes to sample per state for memory
-- Returns {sizes of KEYS[1..6], processed today, processed total, failed today, failed total,
-- paused 0/1, pending_since of the oldest pending task or "", memory bytes or -1 if unknown}.
-- Sampled task keys come from the prefix, which carries the queue's hash tag.
local out = {}
local memory = 0
local function usage(key)
  local bytes = redis.pcall("MEMORY", "USAGE", key)
  if type(bytes) == "table" then memory = nil end  -- MEMORY is not supported here
  if memory and bytes then memory = memory + bytes end
end
for i = 1, 6 do
  local is_list = i <= 2
  local size = redis.call(is_list and "LLEN" or "ZCARD", KEYS[i])
  table.insert(out, size)
  usage(KEYS[i])
  local sample = redis.call(is_list and "LRANGE" or "ZRANGE", KEYS[i], 0, tonumber(ARGV[2]) - 1)
  if memory and #sample > 0 then
    local before = memory
    for _, id in ipairs(sample) do usage(ARGV[1] .. id) end
    if memory then memory = before + (memory - before) / #sample * size end
  end
end
usage(KEYS[7])
for i = 9, 12 do table.insert(out, tonumber(redis.call("GET", KEYS[i]) or "0")) end
table.insert(out, redis.call("EXISTS", KEYS[8]))
local oldest = redis.call("LINDEX", KEYS[1], -1)
table.insert(out, oldest and redis.call("HGET", ARGV[1] .. oldest, "pending_since") or "")
table.insert(out, memory and math.floor(memory) or -1)
return out
