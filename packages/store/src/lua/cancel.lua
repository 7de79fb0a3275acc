-- Ask for the running turn to be cancelled: recorded in `cancel_turn`, which finish.lua
-- honours (the turn ends as cancelled whatever its worker brings) and step.lua too (it records
-- no step of it); the worker running it is also told over pub/sub, to abort its agent sooner.
-- A worker that claims it later finishes it as cancelled without running it.
-- A turn waiting for a person (`interrupted`) is held by no worker: it ends here, at once
-- (end_interrupted: its event to the outbox, the next queued message starts).
-- With 'archive', the session also becomes read-only (OpenHands V1: its sandbox is gone), and
-- its queued turns, which can never run now, end as cancelled at once: each message goes to
-- the history (its turn noted `canceled`, as timelines show it) and its `turn.cancelled`
-- event to the outbox; the caller has the reaper look at the session soon, to deliver them.
-- A turn that ends here starts the session's idle expiry again (expiry.lua), as an archive does.
-- KEYS: meta, messages, inbox, events, outbox, turns, stream, expiry, early
-- ARGV: 'cancel' | 'archive', now, stream ttl (ms), this call's id (random: a resend carries the same)
-- Returns {'cancelling', turn} | {'ended', turn, next turn or ''} | {'idle'} | {'not_found'}.
local f = redis.call('HMGET', KEYS[1], 'status', 'turn_id', 'tenant', 'webhook', 'incarnation', 'archived', 'last_cancel')
if not f[1] then return {'not_found'} end
-- This very call again (a resend after a lost reply) of one that ended a waiting turn: the same
-- answer, and the turn it started is not cancelled.
local call, turn, next_turn = string.match(f[7] or '', '^(.-)\n(.-)\n(.*)$')
if call == ARGV[4] then return {'ended', turn, next_turn} end
local k = {meta = KEYS[1], messages = KEYS[2], inbox = KEYS[3], events = KEYS[4], outbox = KEYS[5], turns = KEYS[6], stream = KEYS[7], expiry = KEYS[8], early = KEYS[9]}
-- (A resend of an archive after a lost reply finds it archived, its inbox empty: the same outcome.)
if ARGV[1] == 'archive' and not f[6] then
  redis.call('HSET', KEYS[1], 'archived', '1', 'paused', '1', 'updated_at', ARGV[2])
  local session = {tenant = f[3] or '', webhook = f[4] or '', incarnation = f[5] or ''}
  for _, record in ipairs(redis.call('LRANGE', KEYS[3], 0, -1)) do
    local r = parse_record(record)
    if r.message ~= '' then history_push(KEYS[1], KEYS[2], KEYS[9], r.message, r.accepted_at, r.turn_id) end
    note_outcome(KEYS[1], KEYS[6], r.turn_id, 'canceled')
    cancelled_event(KEYS[5], r.turn_id, r.webhook, ARGV[2], redis.call('LLEN', KEYS[2]), session)
  end
  redis.call('DEL', KEYS[3])
  session_expiry(k)
end
if f[1] == 'running' then
  redis.call('HSET', KEYS[1], 'cancel_turn', f[2])
  return {'cancelling', f[2]}
end
if f[1] == 'interrupted' then
  local started = end_interrupted(k, ARGV[2], ARGV[3], 'cancelled', 'Turn cancelled')
  redis.call('HSET', KEYS[1], 'last_cancel', ARGV[4] .. '\n' .. f[2] .. '\n' .. started)
  session_expiry(k)
  return {'ended', f[2], started}
end
return {'idle'}
