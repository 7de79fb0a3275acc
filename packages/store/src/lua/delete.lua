-- Delete a session and wake its long-pollers. Returns {created_at, status, turn_id}.
-- KEYS: meta, messages, inbox, events
local f = redis.call('HMGET', KEYS[1], 'created_at', 'status', 'turn_id')
if not f[1] then return false end
redis.call('DEL', KEYS[1], KEYS[2], KEYS[3])
redis.call('PUBLISH', KEYS[4], 'deleted')
return f
