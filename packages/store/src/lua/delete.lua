-- Delete a session and wake its long-pollers. Returns {created_at, status, turn_id, tenant}.
-- The running turn and every queued one end as cancelled: their events go to the
-- outbox, which (like the delivery log) outlives the session until delivered.
-- The event stream goes too; its followers are told on its channel (they end their streams).
-- KEYS: meta, messages, inbox, events, outbox, deliveries, turns, stream, tombstone
-- ARGV: now, this call's id (random: a resend of the call carries the same)
-- Cancelled events are always recorded: whether any webhook wants them is up to the
-- workers' configuration (server-wide endpoints), not this process's.
local f = redis.call('HMGET', KEYS[1], 'created_at', 'status', 'turn_id', 'turn_webhook', 'webhook', 'tenant')
if not f[1] then
  -- This very call again (the API's Redis client resends a command whose reply was lost to
  -- a reconnect): the same answer as the first time, from the tombstone it left.
  local call, created, status, turn, tenant = string.match(redis.call('GET', KEYS[9]) or '', '^(.-)\n(.-)\n(.-)\n(.-)\n(.*)$')
  if call == ARGV[2] then return {created, status, turn, tenant} end
  return false
end
local session_webhook = f[5] or ''
local function cancelled(turn_id, webhook)
  redis.call('RPUSH', KEYS[5], cjson.encode({
    turn_id = turn_id, type = 'turn.cancelled', at = ARGV[1], status = 'idle', response = '',
    error = 'Turn cancelled', history_len = 0, webhook = webhook, session_webhook = session_webhook,
    tenant = f[6] or '',
  }))
end
-- A turn waiting for a person (`interrupted`) ends as cancelled too (no worker holds it).
if f[2] == 'running' or f[2] == 'interrupted' then
  cancelled(f[3], f[4] or '')
  for _, record in ipairs(redis.call('LRANGE', KEYS[3], 0, -1)) do
    local r = parse_record(record)
    cancelled(r.turn_id, r.webhook)
  end
end
redis.call('DEL', KEYS[1], KEYS[2], KEYS[3], KEYS[7], KEYS[8])
-- The delivery log stays a day, for deliveries still in flight.
redis.call('PEXPIRE', KEYS[6], 86400000)
redis.call('SET', KEYS[9], table.concat({ARGV[2], f[1], f[2], f[3] or '', f[6] or ''}, '\n'), 'PX', 60000)
redis.call('PUBLISH', KEYS[4], 'deleted')
redis.call('PUBLISH', KEYS[8], 'deleted')
return {f[1], f[2], f[3], f[6] or ''}
