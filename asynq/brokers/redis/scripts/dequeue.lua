-- Lease up to N pending tasks of one queue (see _dequeue.lua).
-- KEYS[1] pending, KEYS[2] paused flag, KEYS[3] active, KEYS[4] lease zset
-- ARGV[1] lease expiry (unix s), ARGV[2] task key prefix, ARGV[3] N, ARGV[4] lease token
return lease_pending(KEYS[1], KEYS[2], KEYS[3], KEYS[4], ARGV[1], ARGV[2], ARGV[3], ARGV[4])
