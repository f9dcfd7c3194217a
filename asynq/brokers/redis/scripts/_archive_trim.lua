-- Shared by the scripts that add to the archive (prepended by scripts.py): drop archived tasks
-- older than oldest_kept, then the oldest beyond max_size, deleting their hashes too. Task keys
-- are built from the prefix, which carries the queue's hash tag.
local function trim_archive(archived, task_prefix, oldest_kept, max_size)
  local old = redis.call("ZRANGEBYSCORE", archived, "-inf", "(" .. oldest_kept)
  for _, id in ipairs(old) do redis.call("DEL", task_prefix .. id) end
  redis.call("ZREMRANGEBYSCORE", archived, "-inf", "(" .. oldest_kept)
  local excess = redis.call("ZRANGE", archived, 0, -tonumber(max_size) - 1)
  for _, id in ipairs(excess) do redis.call("DEL", task_prefix .. id) end
  redis.call("ZREMRANGEBYRANK", archived, 0, -tonumber(max_size) - 1)
end
