-- Count bytes of messages stored in a session (TENANT_MAX_BYTES), if the session still exists.
-- Returns the session's tenant (the caller adds the bytes to the tenant's counter, a key in
-- another slot), or false when the session is gone (nothing counted: its bytes went with it).
-- Approximate by design: a resend of this call after a lost reply counts twice.
-- A session that may expire (SESSION_TTL_S) counts them in its expiry hash too, which outlives
-- its other keys: the reaper takes them off its tenant once it is gone.
-- KEYS: meta, expiry   ARGV: bytes
if redis.call('EXISTS', KEYS[1]) == 0 then return false end
redis.call('HINCRBY', KEYS[1], 'bytes', ARGV[1])
if redis.call('EXISTS', KEYS[2]) == 1 then redis.call('HINCRBY', KEYS[2], 'bytes', ARGV[1]) end
return redis.call('HGET', KEYS[1], 'tenant') or ''
