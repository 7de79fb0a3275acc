-- The reaper's look at a session of the expiring index (SESSION_TTL_S).
-- KEYS: meta, expiry, events, stream (the last two are also the channels its followers listen on)
-- Returns {'alive', ms until its keys expire (-1: they do not, a turn runs, is queued or waits),
--   its ttl (ms; 0: the session does not expire)}
-- | {'gone', created (ms), tenant, bytes}: its keys have expired. The expiry hash is taken here
--   (deleted), so exactly one caller (this one, or a create of the id: create.lua) releases the
--   session's index entries and byte count.
--   Its followers (event streams, long-polls) are told at once, as after a DELETE, rather than
--   at their next heartbeat.
-- | {'none'}: nothing left to release (deleted, or never made).
if redis.call('EXISTS', KEYS[1]) == 1 then
  return {'alive', redis.call('PTTL', KEYS[1]), redis.call('HGET', KEYS[2], 'ttl') or '0'}
end
local f = redis.call('HMGET', KEYS[2], 'created', 'tenant', 'bytes')
if not f[1] then return {'none'} end
redis.call('DEL', KEYS[2])
redis.call('PUBLISH', KEYS[3], 'deleted')
redis.call('PUBLISH', KEYS[4], 'deleted')
return {'gone', f[1], f[2] or '', f[3] or '0'}
