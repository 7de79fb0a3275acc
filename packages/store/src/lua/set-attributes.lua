-- Set or clear some of a session's surface attributes (OpenHands PATCH: title, tags).
-- A resend after a lost reply sets the same values again, with the same result.
-- KEYS: meta   ARGV: JSON object of attributes (a value `false` clears one), now,
--       the caller's tenant ('' without auth: any session; else another tenant's is not found)
-- Returns 'ok' | 'not_found' | 'archived'.
local f = redis.call('HMGET', KEYS[1], 'status', 'attrs', 'tenant', 'archived')
if not f[1] then return 'not_found' end
if ARGV[3] ~= '' and f[3] ~= ARGV[3] then return 'not_found' end
if f[4] then return 'archived' end
local attrs = {}
if f[2] and f[2] ~= '' then attrs = cjson.decode(f[2]) end
for key, value in pairs(cjson.decode(ARGV[1])) do
  if value == false then attrs[key] = nil else attrs[key] = value end
end
if next(attrs) == nil then
  redis.call('HDEL', KEYS[1], 'attrs')
else
  redis.call('HSET', KEYS[1], 'attrs', cjson.encode(attrs))
end
redis.call('HSET', KEYS[1], 'updated_at', ARGV[2])
return 'ok'
