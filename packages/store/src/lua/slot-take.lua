-- Takes one of a tenant's slots (running turns, webhooks in flight), or parks the job.
-- Slots are leases: members with their expiry as score, so a dead worker's slot frees
-- itself when its lease lapses. A member that holds a slot already (its own resend after a
-- lost reply, or a job taken over from a stalled worker) keeps it, with a fresh expiry.
-- Over the cap, the job is parked (first park time kept, so the oldest is woken first).
-- Returns 1 (slot taken) or 0 (parked).
-- KEYS: leases (zset), parked (zset)   ARGV: member, now ms, lease ms, max, parked member
local now = tonumber(ARGV[2])
redis.call('ZREMRANGEBYSCORE', KEYS[1], '-inf', now)
if redis.call('ZSCORE', KEYS[1], ARGV[1]) or redis.call('ZCARD', KEYS[1]) < tonumber(ARGV[4]) then
  redis.call('ZADD', KEYS[1], now + tonumber(ARGV[3]), ARGV[1])
  redis.call('PEXPIRE', KEYS[1], tonumber(ARGV[3]))
  redis.call('ZREM', KEYS[2], ARGV[5])
  return 1
end
redis.call('ZADD', KEYS[2], 'NX', now, ARGV[5])
-- Parked jobs wake on their own as well: the list outlives none of them by much.
redis.call('PEXPIRE', KEYS[2], 86400000)
return 0
