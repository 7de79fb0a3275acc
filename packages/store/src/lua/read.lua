-- A consistent view of one session in one round trip.
-- KEYS: meta, messages, inbox
local f = redis.call('HMGET', KEYS[1], 'status', 'agent', 'turn_id', 'response', 'error',
  'created_at', 'updated_at', 'tenant', 'turn_accepted_at', 'paused', 'archived', 'attrs', 'interrupt', 'interrupt_id')
if not f[1] then return false end
local interrupt, interrupt_id = f[13], f[14]
f[13] = redis.call('LLEN', KEYS[2])
f[14] = redis.call('LLEN', KEYS[3])
f[15] = interrupt
f[16] = interrupt_id
return f
