-- Create a session unless it exists.
-- KEYS: meta, messages
-- ARGV: now, agent, tenant, default webhook JSON ('' for none), attributes JSON ('' for none),
--       agent config JSON ('' for none), message JSON...
local existing = redis.call('HMGET', KEYS[1], 'created_at', 'tenant')
if existing[1] then
  -- This very call again (the API's Redis client resends a command whose reply was lost
  -- to a reconnect): the session it made, same time, same tenant. Anything else exists.
  if existing[1] == ARGV[1] and existing[2] == ARGV[3] then return 1 end
  return 0
end
redis.call('HSET', KEYS[1], 'status', 'idle', 'agent', ARGV[2], 'tenant', ARGV[3],
  'created_at', ARGV[1], 'updated_at', ARGV[1], 'turn_id', '', 'fence', 0,
  'response', '', 'error', '')
if ARGV[4] ~= '' then redis.call('HSET', KEYS[1], 'webhook', ARGV[4]) end
if ARGV[5] ~= '' then redis.call('HSET', KEYS[1], 'attrs', ARGV[5]) end
if ARGV[6] ~= '' then redis.call('HSET', KEYS[1], 'config', ARGV[6]) end
local batch = {}
for i = 7, #ARGV do
  batch[#batch + 1] = ARGV[i]
  if #batch == 1000 then redis.call('RPUSH', KEYS[2], unpack(batch)); batch = {} end
end
if #batch > 0 then redis.call('RPUSH', KEYS[2], unpack(batch)) end
return 1
