-- Answer the interrupt a turn waits on: the value is stored with it (the next step's input)
-- and the turn is running again; the caller queues its job (`<turn id>.<run>`: a job of its
-- own per resume, on any worker).
-- KEYS: meta, events, stream   ARGV: interrupt id, value JSON, now, stream ttl (ms), tenant
--   ('' without auth), this call's id (random: a resend of the call carries the same)
-- Returns {'ok', turn id, run} | {'not_interrupted', status} | {'interrupt_not_found'} | {'not_found'}.
local f = redis.call('HMGET', KEYS[1], 'status', 'tenant', 'turn_id', 'interrupt_id', 'interrupt', 'run', 'step_turn', 'last_resume')
if not f[1] then return {'not_found'} end
if ARGV[5] ~= '' and f[2] ~= ARGV[5] then return {'not_found'} end
if f[1] ~= 'interrupted' then
  -- This very call again (a resend after a lost reply): the same answer as the first time.
  local call, turn, run = string.match(f[8] or '', '^(.-)\n(.-)\n(.*)$')
  if call == ARGV[6] and turn == f[3] then return {'ok', turn, tonumber(run)} end
  return {'not_interrupted', f[1]}
end
if f[4] ~= ARGV[1] then return {'interrupt_not_found'} end
local run = 1
if f[7] == f[3] then run = tonumber(f[6] or '0') + 1 end
redis.call('HSET', KEYS[1], 'status', 'running', 'run', run, 'resume', '{"interrupt":' .. f[5] .. ',"value":' .. ARGV[2] .. '}',
  'turn_accepted_at', ARGV[3], 'updated_at', ARGV[3], 'last_resume', ARGV[6] .. '\n' .. f[3] .. '\n' .. run)
redis.call('HDEL', KEYS[1], 'interrupt', 'interrupt_id', 'interrupted_at')
redis.call('PUBLISH', KEYS[2], 'running')
stream_status(KEYS[3], ARGV[4], 'running', f[3])
return {'ok', f[3], run}
