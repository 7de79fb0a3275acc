-- A worker takes the session's running turn. The fence is bumped on every claim, so
-- the result of an earlier claimant (one that lost its BullMQ lock) is refused later.
-- Returns {'ok', fence, agent, cancelled ('1' | ''), history...}.
-- KEYS: meta, messages   ARGV: turn id
local fields = redis.call('HMGET', KEYS[1], 'status', 'turn_id', 'agent', 'cancel_turn')
if not fields[1] then return {'gone'} end
if fields[1] ~= 'running' or fields[2] ~= ARGV[1] then return {'stale'} end
local fence = redis.call('HINCRBY', KEYS[1], 'fence', 1)
local result = {'ok', tostring(fence), fields[3], fields[4] == ARGV[1] and '1' or ''}
local history = redis.call('LRANGE', KEYS[2], 0, -1)
for i = 1, #history do result[#result + 1] = history[i] end
return result
