-- Create a session unless it exists.
-- The session gets a random incarnation id: records that outlive a session (outbox events,
-- webhook deliveries, Idempotency-Key records) carry it, so a later session with the same
-- id (after a DELETE) neither sees nor is changed by them.
-- With an idle ttl (SESSION_TTL_S) the session gets its expiry hash and its keys start to expire
-- (expiry.lua). A session of this id that expired before the reaper released its index entries
-- and byte count left its expiry hash: it is taken here, and returned for the caller to release.
-- KEYS: meta, messages, deliveries, inbox, turns, stream, expiry, delivery index, delivery bodies,
--       early
-- ARGV: now, agent, tenant, default webhook JSON ('' for none), attributes JSON ('' for none),
--       incarnation, agent config JSON ('' for none), idle ttl (ms; 0: none), message JSON...
-- Returns {1[, the expired session's created (ms), tenant, bytes]} (made), or {0} (exists).
local existing = redis.call('HMGET', KEYS[1], 'created_at', 'tenant', 'incarnation')
if existing[1] then
  -- This very call again (the API's Redis client resends a command whose reply was lost
  -- to a reconnect): the session it made, same time, tenant and incarnation. Anything else exists.
  if existing[1] == ARGV[1] and existing[2] == ARGV[3] and existing[3] == ARGV[6] then return {1} end
  return {0}
end
local expired = redis.call('HMGET', KEYS[7], 'created', 'tenant', 'bytes')
if expired[1] then redis.call('DEL', KEYS[7]) end
redis.call('HSET', KEYS[1], 'status', 'idle', 'agent', ARGV[2], 'tenant', ARGV[3],
  'created_at', ARGV[1], 'updated_at', ARGV[1], 'turn_id', '', 'fence', 0,
  'response', '', 'error', '', 'incarnation', ARGV[6])
-- A deleted session of this id may have left its delivery log, set to expire a day after
-- its DELETE: this session's deliveries join it (shown by incarnation), and must not expire
-- on that clock. The old entries stay (hidden) while this session lives, still redeliverable.
redis.call('PERSIST', KEYS[3])
redis.call('PERSIST', KEYS[8])
redis.call('PERSIST', KEYS[9])
if ARGV[4] ~= '' then redis.call('HSET', KEYS[1], 'webhook', ARGV[4]) end
if ARGV[5] ~= '' then redis.call('HSET', KEYS[1], 'attrs', ARGV[5]) end
if ARGV[7] ~= '' then redis.call('HSET', KEYS[1], 'config', ARGV[7]) end
local batch = {}
local tools = 0
for i = 9, #ARGV do
  batch[#batch + 1] = ARGV[i]
  tools = tools + tool_calls_of(ARGV[i])
  if #batch == 1000 then redis.call('RPUSH', KEYS[2], unpack(batch)); batch = {} end
end
if #batch > 0 then redis.call('RPUSH', KEYS[2], unpack(batch)) end
-- The history's time index (history.lua): the preloaded messages all have the session's time
-- (an early set left by an earlier session with this id, had one outlived it, is not this one's).
redis.call('DEL', KEYS[10])
redis.call('HSET', KEYS[1], 'ix', #ARGV - 8, 'ix_at', #ARGV > 8 and ARGV[1] or '0', 'ix_tools', tools, 'ix_free', #ARGV - 8)
if tonumber(ARGV[8]) > 0 then
  redis.call('HSET', KEYS[7], 'ttl', ARGV[8], 'created', ARGV[1], 'tenant', ARGV[3], 'bytes', 0)
  session_expiry({meta = KEYS[1], messages = KEYS[2], inbox = KEYS[4], turns = KEYS[5], stream = KEYS[6], expiry = KEYS[7], early = KEYS[10]})
end
if expired[1] then return {1, expired[1], expired[2] or '', expired[3] or '0'} end
return {1}
