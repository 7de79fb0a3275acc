-- Ask for the running turn to be cancelled: the worker running it aborts its agent
-- (told over pub/sub), and a worker that claims it later finishes it as cancelled.
-- A turn waiting for a person (`interrupted`) is held by no worker: it ends here, at once
-- (end_interrupted: its event to the outbox, the next queued message starts).
-- With 'archive', the session also becomes read-only for good (OpenHands V1: its sandbox is gone).
-- KEYS: meta, messages, inbox, events, outbox, turns, stream
-- ARGV: 'cancel' | 'archive', now, stream ttl (ms), this call's id (random: a resend carries the same)
-- Returns {'cancelling', turn} | {'ended', turn, next turn or ''} | {'idle'} | {'not_found'}.
local f = redis.call('HMGET', KEYS[1], 'status', 'turn_id', 'last_cancel')
if not f[1] then return {'not_found'} end
-- This very call again (a resend after a lost reply) of one that ended a waiting turn: the same
-- answer, and the turn it started is not cancelled.
local call, turn, next_turn = string.match(f[3] or '', '^(.-)\n(.-)\n(.*)$')
if call == ARGV[4] then return {'ended', turn, next_turn} end
if ARGV[1] == 'archive' then
  redis.call('HSET', KEYS[1], 'archived', '1', 'paused', '1', 'updated_at', ARGV[2])
end
if f[1] == 'running' then
  redis.call('HSET', KEYS[1], 'cancel_turn', f[2])
  return {'cancelling', f[2]}
end
if f[1] == 'interrupted' then
  local k = {meta = KEYS[1], messages = KEYS[2], inbox = KEYS[3], events = KEYS[4], outbox = KEYS[5], turns = KEYS[6], stream = KEYS[7]}
  local next_turn = end_interrupted(k, ARGV[2], ARGV[3], 'cancelled', 'Turn cancelled')
  redis.call('HSET', KEYS[1], 'last_cancel', ARGV[4] .. '\n' .. f[2] .. '\n' .. next_turn)
  return {'ended', f[2], next_turn}
end
return {'idle'}
