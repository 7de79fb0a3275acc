-- Record a turn's outcome, then start the next queued message, if any.
-- Refused unless the turn is still the session's running turn and the fence matches
-- (fence '*' is the reaper's: it finishes a turn whose job is gone for good).
-- A turn whose cancel was recorded (`cancel_turn`: POST /cancel, an interrupt, an archive)
-- ends as cancelled whatever its worker brings: the cancel was answered with its id, and
-- the pub/sub message that aborts the agent only hurries it (it can come too late, or be lost).
-- The turn-end event goes to the session's outbox in the same step, so it is never
-- lost between the state write and the queueing of its webhook deliveries.
-- Failed and cancelled turns are noted in the turns hash (timelines show them).
-- The session's stream gets the turn's `message` (or `error`) event, then the new `status`.
-- The session's idle expiry (SESSION_TTL_S) starts again when no turn follows (expiry.lua).
-- KEYS: meta, messages, inbox, events, outbox, turns, stream, expiry, early
-- ARGV: turn id, fence, outcome ('ok' | 'error'), reply JSON or error text, now,
--       event type, '1' when server-wide webhooks want every event,
--       stream event data JSON, stream ttl (ms)
-- Returns {'ok', status, notify (0 | 1), next turn id or '', cancelled (1: ended as cancelled
-- by its recorded cancel, whatever the worker brought; else 0)} | {'stale'} | {'gone'}.
local fields = redis.call('HMGET', KEYS[1], 'status', 'turn_id', 'fence', 'turn_webhook', 'webhook', 'paused', 'tenant', 'last_finish', 'cancel_turn', 'incarnation')
if not fields[1] then return {'gone'} end
if fields[1] ~= 'running' or fields[2] ~= ARGV[1] or (ARGV[2] ~= '*' and fields[3] ~= ARGV[2]) then
  -- This very call again (a worker's Redis client resends a command whose reply was lost to
  -- a reconnect): the same answer as the first time, so the worker still starts the next turn.
  local call, status, notify, next_turn, cancelled = string.match(fields[8] or '', '^(.-)\n(.-)\n(.-)\n(.-)\n(.*)$')
  if call ~= redis.sha1hex(ARGV[1] .. '\n' .. ARGV[2] .. '\n' .. ARGV[4]) then return {'stale'} end
  return {'ok', status, tonumber(notify), next_turn, tonumber(cancelled)}
end
-- The call is known by its turn, fence and reply (which holds its time): computed before a
-- recorded cancel replaces the outcome, so a resend matches it.
local call = redis.sha1hex(ARGV[1] .. '\n' .. ARGV[2] .. '\n' .. ARGV[4])
local outcome, value, event_type, event_data = ARGV[3], ARGV[4], ARGV[6], ARGV[8]
local cancelled = 0
if fields[9] == ARGV[1] and event_type ~= 'turn.cancelled' then
  cancelled = 1
  outcome, value, event_type = 'error', 'Turn cancelled', 'turn.cancelled'
  event_data = cjson.encode({turn_id = ARGV[1], error = value})
end
local turn_webhook = fields[4] or ''
local session_webhook = fields[5] or ''
local status
if outcome == 'ok' then
  history_push(KEYS[1], KEYS[2], KEYS[9], value, ARGV[5], ARGV[1])
  redis.call('HSET', KEYS[1], 'response', value, 'error', '')
  status = 'idle'
else
  redis.call('HSET', KEYS[1], 'response', '', 'error', value)
  note_outcome(KEYS[1], KEYS[6], ARGV[1], event_type == 'turn.cancelled' and 'canceled' or 'failed')
  -- A cancelled turn leaves the session ready for the next message; a failed one in `error`.
  status = event_type == 'turn.cancelled' and 'idle' or 'error'
end
redis.call('HDEL', KEYS[1], 'cancel_turn')
stream_add(KEYS[7], ARGV[9], outcome == 'ok' and 'message' or 'error', event_data)
local notify = 0
if turn_webhook ~= '' or session_webhook ~= '' or ARGV[7] == '1' then
  notify = 1
  redis.call('RPUSH', KEYS[5], cjson.encode({
    turn_id = ARGV[1], type = event_type, at = ARGV[5], status = status,
    response = outcome == 'ok' and value or '', error = outcome == 'ok' and '' or value,
    history_len = redis.call('LLEN', KEYS[2]), webhook = turn_webhook, session_webhook = session_webhook,
    tenant = fields[7] or '', incarnation = fields[10] or '',
  }))
end
-- The next queued message starts (none while paused).
local record = false
if not fields[6] then record = redis.call('LPOP', KEYS[3]) end
local next_turn = ''
if record then
  next_turn = start_record(KEYS[1], KEYS[2], KEYS[4], KEYS[7], ARGV[9], record, ARGV[5], KEYS[9])
else
  redis.call('HSET', KEYS[1], 'status', status, 'updated_at', ARGV[5])
  redis.call('PUBLISH', KEYS[4], status)
  stream_status(KEYS[7], ARGV[9], status, ARGV[1])
end
-- What this call answered, for its resend (above).
redis.call('HSET', KEYS[1], 'last_finish', table.concat({call, status, notify, next_turn, cancelled}, '\n'))
session_expiry({meta = KEYS[1], messages = KEYS[2], inbox = KEYS[3], turns = KEYS[6], stream = KEYS[7], expiry = KEYS[8], early = KEYS[9]})
return {'ok', status, notify, next_turn, cancelled}
