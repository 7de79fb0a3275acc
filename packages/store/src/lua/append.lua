-- Add a message to the history without starting a turn (OpenHands `run: false`).
-- While a turn runs, the message lands before that turn's reply.
-- Like an accepted message, it starts an idle session's expiry again (expiry.lua).
-- KEYS: meta, messages, events, inbox, turns, stream, expiry, early
-- ARGV: message JSON, now, most messages (history + queued; 0: no cap)
local f = redis.call('HMGET', KEYS[1], 'status', 'archived')
if not f[1] then return 'not_found' end
if f[2] then return 'archived' end
-- This very call again (a resend after a lost reply): the message, with its time, is in already.
if redis.call('LPOS', KEYS[2], ARGV[1], 'RANK', -1, 'MAXLEN', 64) then return 'ok' end
local cap = tonumber(ARGV[3])
if cap > 0 and redis.call('LLEN', KEYS[2]) + redis.call('LLEN', KEYS[4]) >= cap then return 'full' end
history_push(KEYS[1], KEYS[2], KEYS[8], ARGV[1], ARGV[2], '')
redis.call('HSET', KEYS[1], 'updated_at', ARGV[2])
redis.call('PUBLISH', KEYS[3], 'appended')
session_expiry({meta = KEYS[1], messages = KEYS[2], inbox = KEYS[4], turns = KEYS[5], stream = KEYS[6], expiry = KEYS[7], early = KEYS[8]})
return 'ok'
