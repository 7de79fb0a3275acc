-- Saves an endpoint breaker's state if it is still the one the caller read (compare and
-- set; several workers update it at once). Its own resend (the value already is the new
-- one) counts as saved. '' as the new state deletes it (closed, nothing to remember).
-- Returns 1 (saved) or 0 (changed meanwhile: read again).
-- KEYS: breaker   ARGV: expected state ('' for none), new state ('' to delete), ttl ms (0: none)
local current = redis.call('GET', KEYS[1]) or ''
if current == ARGV[2] then return 1 end
if current ~= ARGV[1] then return 0 end
if ARGV[2] == '' then
  redis.call('DEL', KEYS[1])
elseif ARGV[3] == '0' then
  redis.call('SET', KEYS[1], ARGV[2])
else
  redis.call('SET', KEYS[1], ARGV[2], 'PX', ARGV[3])
end
return 1
