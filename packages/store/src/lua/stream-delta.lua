-- Append a piece of the running turn's reply (a `delta` event) to the session's stream,
-- only if the turn is still the session's running turn under this fence: a worker that
-- lost the turn, or a deleted session, writes nothing (and never re-creates the stream).
-- KEYS: meta, stream   ARGV: turn id, fence, event data JSON, ttl (ms)
local f = redis.call('HMGET', KEYS[1], 'status', 'turn_id', 'fence')
if f[1] ~= 'running' or f[2] ~= ARGV[1] or f[3] ~= ARGV[2] then return false end
return stream_add(KEYS[2], ARGV[4], 'delta', ARGV[3])
