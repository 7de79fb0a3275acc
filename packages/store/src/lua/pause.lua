-- Pause or resume a session. While paused no turn starts (the running one finishes;
-- new and queued messages wait). Resuming starts the first queued message, if any.
-- KEYS: meta, messages, inbox, events, stream   ARGV: 'pause' | 'resume', now, stream ttl (ms)
local f = redis.call('HMGET', KEYS[1], 'status', 'archived')
if not f[1] then return {'not_found'} end
if ARGV[1] == 'pause' then
  redis.call('HSET', KEYS[1], 'paused', '1', 'updated_at', ARGV[2])
  redis.call('PUBLISH', KEYS[4], 'paused')
  return {'ok'}
end
if f[2] then return {'archived'} end
redis.call('HDEL', KEYS[1], 'paused')
redis.call('HSET', KEYS[1], 'updated_at', ARGV[2])
if f[1] ~= 'running' and f[1] ~= 'interrupted' then
  local record = redis.call('LPOP', KEYS[3])
  if record then return {'ok', start_record(KEYS[1], KEYS[2], KEYS[4], KEYS[5], ARGV[3], record, ARGV[2])} end
end
redis.call('PUBLISH', KEYS[4], 'resumed')
return {'ok'}
