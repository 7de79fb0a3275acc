-- Record one step of a turn: its messages (tool calls, tool results...) go to the history
-- with the turn's id in their meta, each as a `message` event on the session's stream.
-- A step may end with an interrupt: the turn then waits for a person (`interrupted`), holding
-- no worker, until POST /sessions/{id}/resume; its `turn.interrupted` event goes to the outbox.
-- Refused unless the turn is still the session's running turn under this fence, not
-- cancelled (the worker then finishes it as cancelled), and this is the turn's next step
-- (steps recorded by a worker that died count: a recorded step never runs again).
-- KEYS: meta, messages, events, outbox, stream, early
-- ARGV: turn id, fence, step index, now, stream ttl (ms), '1' when server-wide webhooks want
--       every event, interrupt JSON ('' for none), interrupt id, then per message: its history
--       JSON, its stream event data JSON
-- Returns {'ok', notify (1 when a turn.interrupted event went to the outbox)} |
--   {'cancelled'} | {'stale'} | {'gone'}.
local f = redis.call('HMGET', KEYS[1], 'status', 'turn_id', 'fence', 'cancel_turn', 'step_turn', 'steps', 'last_step',
  'turn_webhook', 'webhook', 'tenant', 'incarnation')
if not f[1] then return {'gone'} end
local index = tonumber(ARGV[3])
local steps = 0
if f[5] == ARGV[1] then steps = tonumber(f[6]) end
-- This very call again (a worker's Redis client resends a command whose reply was lost to a
-- reconnect): the step is in already, and the same answer as the first time.
-- The call is known by its turn, fence, step and messages.
local call = redis.sha1hex(table.concat(ARGV, '\n', 1, 3) .. '\n' .. table.concat(ARGV, '\n', 9))
local last_call, last_notify = string.match(f[7] or '', '^(.-)\n(.*)$')
if steps == index + 1 and last_call == call then return {'ok', tonumber(last_notify)} end
if f[1] ~= 'running' or f[2] ~= ARGV[1] or f[3] ~= ARGV[2] or steps ~= index then return {'stale'} end
if f[4] == ARGV[1] then return {'cancelled'} end
for i = 9, #ARGV, 2 do
  history_push(KEYS[1], KEYS[2], KEYS[6], ARGV[i], ARGV[4], ARGV[1])
  stream_add(KEYS[5], ARGV[5], 'message', ARGV[i + 1])
end
-- The resume value (if any) was this step's input: the next step goes on without it.
redis.call('HDEL', KEYS[1], 'resume')
local notify = 0
if ARGV[7] ~= '' then
  redis.call('HSET', KEYS[1], 'status', 'interrupted', 'interrupt', ARGV[7], 'interrupt_id', ARGV[8], 'interrupted_at', ARGV[4])
  stream_add(KEYS[5], ARGV[5], 'interrupted', '{"turn_id":"' .. ARGV[1] .. '","interrupts":[' .. ARGV[7] .. ']}')
  stream_status(KEYS[5], ARGV[5], 'interrupted', ARGV[1])
  redis.call('PUBLISH', KEYS[3], 'interrupted')
  if (f[8] or '') ~= '' or (f[9] or '') ~= '' or ARGV[6] == '1' then
    notify = 1
    redis.call('RPUSH', KEYS[4], cjson.encode({
      turn_id = ARGV[1], event_id = ARGV[8], type = 'turn.interrupted', at = ARGV[4], status = 'interrupted',
      response = '', error = '', interrupt = ARGV[7], history_len = redis.call('LLEN', KEYS[2]),
      webhook = f[8] or '', session_webhook = f[9] or '', tenant = f[10] or '', incarnation = f[11] or '',
    }))
  end
end
redis.call('HSET', KEYS[1], 'step_turn', ARGV[1], 'steps', index + 1, 'last_step', call .. '\n' .. notify, 'updated_at', ARGV[4])
return {'ok', notify}
