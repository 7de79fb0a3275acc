-- Accept a message: start its turn now, queue it behind the running turn (or while the
-- session is paused), or refuse. 'interrupt' queues it too and asks for the running turn
-- to be cancelled (the caller tells the workers): queued messages keep their order. An empty message JSON starts a turn on the history as
-- it is (a "run" without a new message).
-- A started turn's `status` event goes to the session's stream.
-- With an Idempotency-Key, what was accepted is recorded with the turn (KEYS[6]), so a retry
-- of a request whose answer was lost (a 503, a dropped connection) gets the same turn back.
-- An accepted message stops the session's idle expiry until its turn ends (expiry.lua).
-- KEYS: meta, messages, inbox, events, stream, the request's record (unused without a key),
--       outbox, turns, expiry, early[, running: on one Redis server, the reaper's entry is written
--       too (on a cluster the caller writes it first, with mark-running.lua)]
-- ARGV: turn id, now, busy policy, webhook JSON ('' for none), message JSON ('' for none), inbox record, stream ttl (ms),
--       the caller's tenant ('' without auth: any session; else another tenant's session is not found),
--       the most messages a session may hold (history + queued; 0: no cap),
--       the request's fingerprint ('' without an Idempotency-Key), how long its record is kept (ms)
--       [, session id, check time (ms): with KEYS[11]]
-- Returns {outcome, the running (or cancelled) turn id or '', the message's turn id[, the turn
-- started by ending an interrupted one, or '']}.
local f = redis.call('HMGET', KEYS[1], 'status', 'paused', 'archived', 'tenant', 'turn_id', 'incarnation')
local status = f[1]
if not status then return {'not_found'} end
if ARGV[8] ~= '' and f[4] ~= ARGV[8] then return {'not_found'} end
-- The request's record names the session's incarnation: one left by a deleted session with
-- this id (records outlive their session) is not this session's, and is overwritten.
local incarnation = f[6] or ''
local function accepted(kind, other)
  session_expiry({meta = KEYS[1], messages = KEYS[2], inbox = KEYS[3], turns = KEYS[8], stream = KEYS[5], expiry = KEYS[9], early = KEYS[10]})
  if ARGV[10] ~= '' then
    redis.call('SET', KEYS[6], ARGV[10] .. '\n' .. kind .. '\n' .. ARGV[1] .. '\n' .. other .. '\n' .. incarnation, 'PX', ARGV[11])
  end
  return {kind, other, ARGV[1]}
end
-- A retry under the same Idempotency-Key: the turn accepted the first time, as it was then.
if ARGV[10] ~= '' then
  local prior = redis.call('GET', KEYS[6])
  if prior then
    local fingerprint, kind, turn, other, inc = string.match(prior, '^(.-)\n(.-)\n(.-)\n(.-)\n(.*)$')
    -- A record from before incarnations has four fields (and its session none).
    if not fingerprint then fingerprint, kind, turn, other = string.match(prior, '^(.-)\n(.-)\n(.-)\n(.*)$'); inc = '' end
    if inc == incarnation then
      if fingerprint ~= ARGV[10] then return {'reused'} end
      return {kind, other, turn}
    end
  end
end
if f[3] then return {'archived'} end
if KEYS[11] then mark_running(KEYS[11], ARGV[12], ARGV[13]) end
-- This very call again: the API's Redis client sends a command once more when its reply
-- was lost to a reconnect. The turn is in already (running, queued or in the history).
if f[5] == ARGV[1] or (ARGV[5] ~= '' and redis.call('LPOS', KEYS[2], ARGV[5], 'RANK', -1, 'MAXLEN', 64)) then
  return {'started', '', ARGV[1]}
end
if redis.call('LPOS', KEYS[3], ARGV[6]) then return {'queued', status == 'running' and f[5] or '', ARGV[1]} end
local cap = tonumber(ARGV[9])
if cap > 0 and ARGV[5] ~= '' and redis.call('LLEN', KEYS[2]) + redis.call('LLEN', KEYS[3]) >= cap then return {'full'} end
if status == 'running' or status == 'interrupted' or f[2] then
  if ARGV[3] == 'enqueue' or ARGV[3] == 'interrupt' then
    redis.call('RPUSH', KEYS[3], ARGV[6])
    -- Followers of the session's events (OpenHands sockets) show a queued message at once.
    redis.call('PUBLISH', KEYS[4], 'queued')
    local running = status ~= 'idle' and status ~= 'error' and f[5] or ''
    if ARGV[3] == 'interrupt' and status == 'interrupted' then
      -- A turn waiting for a person is held by no worker: it ends here, and the first queued
      -- message starts (this one, unless others wait before it); the caller queues its job.
      local k = {meta = KEYS[1], messages = KEYS[2], inbox = KEYS[3], events = KEYS[4], outbox = KEYS[7], turns = KEYS[8], stream = KEYS[5], expiry = KEYS[9], early = KEYS[10]}
      local started = end_interrupted(k, ARGV[2], ARGV[7], 'cancelled', 'Turn cancelled')
      local reply = accepted('interrupting', running)
      reply[4] = started
      return reply
    end
    if ARGV[3] == 'interrupt' and running ~= '' then
      redis.call('HSET', KEYS[1], 'cancel_turn', running)
      return accepted('interrupting', running)
    end
    return accepted('queued', running)
  end
  if status == 'running' or status == 'interrupted' then return {'busy', status} end
  return {'paused'}
end
if ARGV[5] ~= '' then history_push(KEYS[1], KEYS[2], KEYS[10], ARGV[5], ARGV[2], ARGV[1]) end
redis.call('HSET', KEYS[1], 'status', 'running', 'turn_id', ARGV[1], 'response', '', 'error', '',
  'turn_webhook', ARGV[4], 'turn_accepted_at', ARGV[2], 'updated_at', ARGV[2])
redis.call('PUBLISH', KEYS[4], 'running')
stream_status(KEYS[5], ARGV[7], 'running', ARGV[1])
return accepted('started', '')
