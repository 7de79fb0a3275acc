-- Ask for the running turn to be cancelled: the worker running it aborts its agent
-- (told over pub/sub), and a worker that claims it later finishes it as cancelled.
-- With 'archive', the session also becomes read-only (OpenHands V1: its sandbox is gone).
-- KEYS: meta   ARGV: 'cancel' | 'archive', now
local f = redis.call('HMGET', KEYS[1], 'status', 'turn_id')
if not f[1] then return {'not_found'} end
if ARGV[1] == 'archive' then
  redis.call('HSET', KEYS[1], 'archived', '1', 'paused', '1', 'updated_at', ARGV[2])
end
if f[1] == 'running' then
  redis.call('HSET', KEYS[1], 'cancel_turn', f[2])
  return {'cancelling', f[2]}
end
return {'idle'}
