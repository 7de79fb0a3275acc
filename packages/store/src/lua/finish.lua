-- Record a turn's outcome, then start the next queued message, if any.
-- Refused unless the turn is still the session's running turn and the fence matches
-- (fence '*' is the reaper's: it finishes a turn whose job is gone for good).
-- KEYS: meta, messages, inbox, events
-- ARGV: turn id, fence, outcome ('ok' | 'error'), reply JSON or error text, now
local fields = redis.call('HMGET', KEYS[1], 'status', 'turn_id', 'fence', 'turn_webhook')
if not fields[1] then return {'gone'} end
if fields[1] ~= 'running' or fields[2] ~= ARGV[1] then return {'stale'} end
if ARGV[2] ~= '*' and fields[3] ~= ARGV[2] then return {'stale'} end
local finished_webhook = fields[4] or ''
local status
if ARGV[3] == 'ok' then
  redis.call('RPUSH', KEYS[2], ARGV[4])
  redis.call('HSET', KEYS[1], 'response', ARGV[4], 'error', '')
  status = 'idle'
else
  redis.call('HSET', KEYS[1], 'response', '', 'error', ARGV[4])
  status = 'error'
end
-- The next queued message: "turn id \n accepted at \n webhook JSON \n message JSON".
local record = redis.call('LPOP', KEYS[3])
if record then
  local a = string.find(record, '\n', 1, true)
  local b = string.find(record, '\n', a + 1, true)
  local c = string.find(record, '\n', b + 1, true)
  local next_id = string.sub(record, 1, a - 1)
  redis.call('RPUSH', KEYS[2], string.sub(record, c + 1))
  redis.call('HSET', KEYS[1], 'status', 'running', 'turn_id', next_id, 'response', '',
    'error', '', 'turn_webhook', string.sub(record, b + 1, c - 1),
    'turn_accepted_at', string.sub(record, a + 1, b - 1), 'updated_at', ARGV[5])
  redis.call('PUBLISH', KEYS[4], 'running')
  return {'ok', status, finished_webhook, next_id}
end
redis.call('HSET', KEYS[1], 'status', status, 'updated_at', ARGV[5])
redis.call('PUBLISH', KEYS[4], status)
return {'ok', status, finished_webhook}
