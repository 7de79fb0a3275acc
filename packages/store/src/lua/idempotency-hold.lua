-- Renew or release a request's hold on its Idempotency-Key (the pending record), only while
-- the record is that request's own (its owner id is in it): never another request's
-- record, nor the response kept once the request finished.
-- KEYS: record   ARGV: 'renew' | 'release', owner id, ttl (ms; renew only)
local record = redis.call('GET', KEYS[1])
if not record or not string.find(record, '"owner":"' .. ARGV[2] .. '"', 1, true) then return 0 end
if ARGV[1] == 'renew' then return redis.call('PEXPIRE', KEYS[1], ARGV[3]) end
return redis.call('DEL', KEYS[1])
