-- Pause or resume a session. While paused no turn starts (the running one finishes;
-- new and queued messages wait). Resuming starts the first queued message, if any.
-- KEYS: meta, messages, inbox, events   ARGV: 'pause' | 'resume', now
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
  if record then
    local a = string.find(record, '\n', 1, true)
    local b = string.find(record, '\n', a + 1, true)
    local c = string.find(record, '\n', b + 1, true)
    local next_id = string.sub(record, 1, a - 1)
    local message = string.sub(record, c + 1)
    if message ~= '' then redis.call('RPUSH', KEYS[2], message) end
    redis.call('HSET', KEYS[1], 'status', 'running', 'turn_id', next_id, 'response', '',
      'error', '', 'turn_webhook', string.sub(record, b + 1, c - 1),
      'turn_accepted_at', string.sub(record, a + 1, b - 1))
    redis.call('PUBLISH', KEYS[4], 'running')
    return {'ok', next_id}
  end
end
redis.call('PUBLISH', KEYS[4], 'resumed')
return {'ok'}
