-- Pause or resume a session. While paused no turn starts (the running one finishes;
-- new and queued messages wait). Resuming starts the first queued message, if any.
-- KEYS: meta, messages, inbox, events, stream, early   ARGV: 'pause' | 'resume', now, stream ttl (ms)
-- Returns {'ok'[, the running turn's id]} | {'not_found'} | {'archived'}.
local f = redis.call('HMGET', KEYS[1], 'status', 'archived', 'turn_id')
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
  if record then return {'ok', start_record(KEYS[1], KEYS[2], KEYS[4], KEYS[5], ARGV[3], record, ARGV[2], KEYS[6])} end
end
redis.call('PUBLISH', KEYS[4], 'resumed')
-- A running turn comes back too: when this is a resend of the call that started it (its
-- reply lost to a reconnect), the caller still queues its job (a job that exists is kept).
if f[1] == 'running' then return {'ok', f[3]} end
return {'ok'}
