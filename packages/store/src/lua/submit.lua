-- Accept a message: start its turn now, queue it behind the running turn, or refuse.
-- KEYS: meta, messages, inbox, events
-- ARGV: turn id, now, busy policy, webhook JSON ('' for none), message JSON, inbox record
local status = redis.call('HGET', KEYS[1], 'status')
if not status then return {'not_found'} end
if status == 'running' or status == 'interrupted' then
  if ARGV[3] == 'enqueue' then
    redis.call('RPUSH', KEYS[3], ARGV[6])
    return {'queued', redis.call('HGET', KEYS[1], 'turn_id')}
  end
  return {'busy'}
end
redis.call('RPUSH', KEYS[2], ARGV[5])
redis.call('HSET', KEYS[1], 'status', 'running', 'turn_id', ARGV[1], 'response', '', 'error', '',
  'turn_webhook', ARGV[4], 'turn_accepted_at', ARGV[2], 'updated_at', ARGV[2])
redis.call('PUBLISH', KEYS[4], 'running')
return {'started', ARGV[1]}
