-- Remove a session from the running index only if its check time is unchanged, so a
-- turn that started meanwhile (and pushed the time forward) keeps its entry.
-- KEYS: running   ARGV: session id, score seen
local score = redis.call('ZSCORE', KEYS[1], ARGV[1])
if score and tonumber(score) == tonumber(ARGV[2]) then
  redis.call('ZREM', KEYS[1], ARGV[1])
  return 1
end
return 0
