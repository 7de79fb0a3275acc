-- Schedule the reaper's check of a session's running turn, never later than a check
-- already scheduled (a refused or queued message must not put off the check of the
-- running turn). The score always changes, so a reaper that read the old score cannot
-- remove the entry (see release-check.lua).
-- KEYS: running   ARGV: session id, check time (ms)
local due = tonumber(ARGV[2])
local score = redis.call('ZSCORE', KEYS[1], ARGV[1])
if score and tonumber(score) <= due then due = tonumber(score) - 1 end
redis.call('ZADD', KEYS[1], due, ARGV[1])
return due
