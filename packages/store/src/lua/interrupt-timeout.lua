-- End a turn that waited for a person longer than INTERRUPT_TIMEOUT_S (the reaper calls it):
-- it ends with an error, and the next queued message starts.
-- KEYS: meta, messages, inbox, events, outbox, turns, stream, expiry, early
-- ARGV: turn id, now, timeout (ms), stream ttl (ms), error text
-- Returns {'ended', next turn id or ''} | {'waiting', ms left} | {'no'} (not that turn, or not waiting).
local f = redis.call('HMGET', KEYS[1], 'status', 'turn_id', 'interrupted_at')
if f[1] ~= 'interrupted' or f[2] ~= ARGV[1] then return {'no'} end
local left = tonumber(f[3] or '0') + tonumber(ARGV[3]) - tonumber(ARGV[2])
if left > 0 then return {'waiting', left} end
local k = {meta = KEYS[1], messages = KEYS[2], inbox = KEYS[3], events = KEYS[4], outbox = KEYS[5], turns = KEYS[6], stream = KEYS[7], expiry = KEYS[8], early = KEYS[9]}
local started = end_interrupted(k, ARGV[2], ARGV[4], 'failed', ARGV[5])
-- The session's idle expiry starts again when no turn follows (expiry.lua).
session_expiry(k)
return {'ended', started}
