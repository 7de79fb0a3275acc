-- Shared by the scripts that read the inbox (prepended to them by scripts.ts).
-- An inbox record is "turn id \n accepted at \n webhook JSON \n message JSON"
-- (an empty message JSON: a turn on the history as it is).
local function parse_record(record)
  local a = string.find(record, '\n', 1, true)
  local b = string.find(record, '\n', a + 1, true)
  local c = string.find(record, '\n', b + 1, true)
  return {
    turn_id = string.sub(record, 1, a - 1),
    accepted_at = string.sub(record, a + 1, b - 1),
    webhook = string.sub(record, b + 1, c - 1),
    message = string.sub(record, c + 1),
  }
end

-- Makes a queued record the session's running turn. meta, messages, events, stream, early:
-- keys. Its message enters the history with its time of acceptance (history.lua).
local function start_record(meta, messages, events, stream, ttl, record, now, early)
  local r = parse_record(record)
  if r.message ~= '' then history_push(meta, messages, early, r.message, r.accepted_at, r.turn_id) end
  redis.call('HSET', meta, 'status', 'running', 'turn_id', r.turn_id, 'response', '', 'error', '',
    'turn_webhook', r.webhook, 'turn_accepted_at', r.accepted_at, 'updated_at', now)
  redis.call('PUBLISH', events, 'running')
  stream_status(stream, ttl, 'running', r.turn_id)
  return r.turn_id
end

-- Writes the `turn.cancelled` event of a turn ended by its session's deletion or archiving
-- (running or queued) to the session's outbox. `s`: the session's tenant, default webhook and
-- incarnation (which tells its deliveries from those of a later session with the same id).
local function cancelled_event(outbox, turn_id, webhook, now, history_len, s)
  redis.call('RPUSH', outbox, cjson.encode({
    turn_id = turn_id, type = 'turn.cancelled', at = now, status = 'idle', response = '',
    error = 'Turn cancelled', history_len = history_len, webhook = webhook, session_webhook = s.webhook,
    tenant = s.tenant, incarnation = s.incarnation,
  }))
end
