-- The reaper's batch check: for each BullMQ job hash, '1' when the job exists and is not
-- done for good (no finishedOn: waiting, active, delayed or retrying), else '0'.
-- KEYS: job hashes of one queue shard (one hash tag, so one slot on a cluster)   ARGV: none
local out = {}
for i, key in ipairs(KEYS) do
  local f = redis.call('HMGET', key, 'timestamp', 'finishedOn')
  out[i] = (f[1] and not f[2]) and '1' or '0'
end
return table.concat(out)
