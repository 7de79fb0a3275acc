-- Create a session unless it exists.
-- The session gets a random incarnation id: records that outlive a session (outbox events,
-- webhook deliveries, Idempotency-Key records) carry it, so a later session with the same
-- id (after a DELETE) neither sees nor is changed by them.
-- KEYS: meta, messages, deliveries, early
-- ARGV: now, agent, tenant, default webhook JSON ('' for none), attributes JSON ('' for none),
--       incarnation, agent config JSON ('' for none), message JSON...
local existing = redis.call('HMGET', KEYS[1], 'created_at', 'tenant', 'incarnation')
if existing[1] then
  -- This very call again (the API's Redis client resends a command whose reply was lost
  -- to a reconnect): the session it made, same time, tenant and incarnation. Anything else exists.
  if existing[1] == ARGV[1] and existing[2] == ARGV[3] and existing[3] == ARGV[6] then return 1 end
  return 0
end
redis.call('HSET', KEYS[1], 'status', 'idle', 'agent', ARGV[2], 'tenant', ARGV[3],
  'created_at', ARGV[1], 'updated_at', ARGV[1], 'turn_id', '', 'fence', 0,
  'response', '', 'error', '', 'incarnation', ARGV[6])
-- A deleted session of this id may have left its delivery log, set to expire a day after
-- its DELETE: this session's deliveries join it (shown by incarnation), and must not expire
-- on that clock. The old entries stay (hidden) while this session lives, still redeliverable.
redis.call('PERSIST', KEYS[3])
if ARGV[4] ~= '' then redis.call('HSET', KEYS[1], 'webhook', ARGV[4]) end
if ARGV[5] ~= '' then redis.call('HSET', KEYS[1], 'attrs', ARGV[5]) end
if ARGV[7] ~= '' then redis.call('HSET', KEYS[1], 'config', ARGV[7]) end
local batch = {}
local tools = 0
for i = 8, #ARGV do
  batch[#batch + 1] = ARGV[i]
  tools = tools + tool_calls_of(ARGV[i])
  if #batch == 1000 then redis.call('RPUSH', KEYS[2], unpack(batch)); batch = {} end
end
if #batch > 0 then redis.call('RPUSH', KEYS[2], unpack(batch)) end
-- The history's time index (history.lua): the preloaded messages all have the session's time
-- (an early set left by an earlier session with this id, had one outlived it, is not this one's).
redis.call('DEL', KEYS[4])
redis.call('HSET', KEYS[1], 'ix', #ARGV - 7, 'ix_at', #ARGV > 7 and ARGV[1] or '0', 'ix_tools', tools, 'ix_free', #ARGV - 7)
return 1
