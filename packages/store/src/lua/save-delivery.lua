-- Write one webhook delivery to a session's delivery log.
-- A log whose session is gone (deleted) expires a day later.
-- KEYS: meta, deliveries   ARGV: delivery id, delivery JSON, 'nx' (only if new) | 'set'
local written
if ARGV[3] == 'nx' then
  written = redis.call('HSETNX', KEYS[2], ARGV[1], ARGV[2])
else
  written = redis.call('HSET', KEYS[2], ARGV[1], ARGV[2])
  written = 1
end
if redis.call('EXISTS', KEYS[1]) == 0 then redis.call('PEXPIRE', KEYS[2], 86400000) end
return written
