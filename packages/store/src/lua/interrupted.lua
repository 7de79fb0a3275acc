-- Shared by the scripts that end a turn waiting for a person (`interrupted`): a cancel, a
-- delete's sibling, `if_busy: "interrupt"`, the interrupt timeout (prepended by scripts.ts,
-- after stream.lua and inbox.lua). No worker holds such a turn, so the script itself ends it:
-- the outcome, the turn-end event in the outbox (always: whether a webhook wants it is up to
-- the workers' configuration), the stream's `error` event, then the next queued message
-- starts (none while paused). Returns the started turn's id, or ''.
-- k: {meta, messages, inbox, events, outbox, turns, stream, early}; kind: 'cancelled' | 'failed'
local function end_interrupted(k, now, ttl, kind, error_text)
  local f = redis.call('HMGET', k.meta, 'turn_id', 'turn_webhook', 'webhook', 'tenant', 'paused', 'incarnation')
  local turn = f[1]
  local status = kind == 'cancelled' and 'idle' or 'error'
  redis.call('HSET', k.meta, 'response', '', 'error', error_text)
  redis.call('HDEL', k.meta, 'cancel_turn', 'interrupt', 'interrupt_id', 'interrupted_at', 'resume')
  note_outcome(k.meta, k.turns, turn, kind == 'cancelled' and 'canceled' or 'failed')
  stream_add(k.stream, ttl, 'error', cjson.encode({turn_id = turn, error = error_text}))
  redis.call('RPUSH', k.outbox, cjson.encode({
    turn_id = turn, type = kind == 'cancelled' and 'turn.cancelled' or 'turn.failed', at = now, status = status,
    response = '', error = error_text, history_len = redis.call('LLEN', k.messages),
    webhook = f[2] or '', session_webhook = f[3] or '', tenant = f[4] or '', incarnation = f[6] or '',
  }))
  local record = false
  if not f[5] then record = redis.call('LPOP', k.inbox) end
  if record then return start_record(k.meta, k.messages, k.events, k.stream, ttl, record, now, k.early) end
  redis.call('HSET', k.meta, 'status', status, 'updated_at', now)
  redis.call('PUBLISH', k.events, status)
  stream_status(k.stream, ttl, status, turn)
  return ''
end
