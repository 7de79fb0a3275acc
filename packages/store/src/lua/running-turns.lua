-- The reaper's batch check: status, turn id, step turn and run of many sessions in one call
-- (what one HMGET per session would return, nil for a missing field or session). One Redis
-- server only: each session's keys are in a slot of their own.
-- KEYS: the sessions' meta hashes   ARGV: none
local out = {}
for _, key in ipairs(KEYS) do
  local f = redis.call('HMGET', key, 'status', 'turn_id', 'step_turn', 'run')
  local n = #out
  out[n + 1] = f[1] or false
  out[n + 2] = f[2] or false
  out[n + 3] = f[3] or false
  out[n + 4] = f[4] or false
end
return out
