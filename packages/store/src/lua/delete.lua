-- Delete a session and wake its long-pollers. Returns {created_at, status, turn_id, tenant}.
-- The running turn and every queued one (also those waiting on a paused session) end as
-- cancelled: their events go to the outbox, which (like the delivery log) outlives the
-- session until delivered. The caller has the reaper look at the session soon, so the
-- events of queued turns are delivered even when no worker runs a turn of it.
-- The event stream goes too; its followers are told on its channel (they end their streams).
-- The expiry hash (SESSION_TTL_S) goes too: the caller releases the session's index entries
-- and byte count itself, so the reaper finds nothing left to release.
-- KEYS: meta, messages, inbox, events, outbox, deliveries, turns, stream, tombstone, expiry,
--       delivery index, delivery bodies, early, marks
-- ARGV: now, this call's id (random: a resend of the call carries the same)
-- Cancelled events are always recorded: whether any webhook wants them is up to the
-- workers' configuration (server-wide endpoints), not this process's.
-- This very call again (the API's Redis client resends a command whose reply was lost to
-- a reconnect): the same answer as the first time, from the tombstone it left. Checked
-- first: a session made with this id meanwhile is another one, and stays.
local call, created, status, turn, tenant = string.match(redis.call('GET', KEYS[9]) or '', '^(.-)\n(.-)\n(.-)\n(.-)\n(.*)$')
if call == ARGV[2] then return {created, status, turn, tenant} end
local f = redis.call('HMGET', KEYS[1], 'created_at', 'status', 'turn_id', 'turn_webhook', 'webhook', 'tenant', 'incarnation')
if not f[1] then return false end
local session = {tenant = f[6] or '', webhook = f[5] or '', incarnation = f[7] or ''}
-- A turn waiting for a person (`interrupted`) ends as cancelled too (no worker holds it).
if f[2] == 'running' or f[2] == 'interrupted' then cancelled_event(KEYS[5], f[3], f[4] or '', ARGV[1], 0, session) end
for _, record in ipairs(redis.call('LRANGE', KEYS[3], 0, -1)) do
  local r = parse_record(record)
  cancelled_event(KEYS[5], r.turn_id, r.webhook, ARGV[1], 0, session)
end
redis.call('DEL', KEYS[1], KEYS[2], KEYS[3], KEYS[7], KEYS[8], KEYS[10], KEYS[13], KEYS[14])
-- The delivery log stays a day, for deliveries still in flight and dead letters to redeliver
-- (a session made again with this id stops the clock: create.lua).
redis.call('PEXPIRE', KEYS[6], 86400000)
redis.call('PEXPIRE', KEYS[11], 86400000)
redis.call('PEXPIRE', KEYS[12], 86400000)
redis.call('SET', KEYS[9], table.concat({ARGV[2], f[1], f[2], f[3] or '', f[6] or ''}, '\n'), 'PX', 60000)
redis.call('PUBLISH', KEYS[4], 'deleted')
redis.call('PUBLISH', KEYS[8], 'deleted')
return {f[1], f[2], f[3], f[6] or ''}
