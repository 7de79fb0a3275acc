-- Count bytes of messages stored in a session (TENANT_MAX_BYTES), if the session still exists.
-- Returns the session's tenant (the caller adds the bytes to the tenant's counter, a key in
-- another slot), or false when the session is gone (nothing counted: its bytes went with it).
-- Approximate by design: a resend of this call after a lost reply counts twice.
-- KEYS: meta   ARGV: bytes
if redis.call('EXISTS', KEYS[1]) == 0 then return false end
redis.call('HINCRBY', KEYS[1], 'bytes', ARGV[1])
return redis.call('HGET', KEYS[1], 'tenant') or ''
