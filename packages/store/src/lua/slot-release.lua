-- Frees a tenant's slot and takes the oldest parked job off the parked list, for the caller
-- to wake (one slot freed: one job woken). A resend frees nothing more and at worst wakes
-- one more job, which parks again if the slots are taken.
-- Returns the parked member woken, or false.
-- KEYS: leases (zset), parked (zset)   ARGV: member
redis.call('ZREM', KEYS[1], ARGV[1])
local woken = redis.call('ZPOPMIN', KEYS[2])
return woken[1] or false
