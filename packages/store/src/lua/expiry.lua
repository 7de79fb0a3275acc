-- Shared by the scripts that write a session (prepended by scripts.ts): the idle expiry of a
-- session made with SESSION_TTL_S, whose expiry hash holds its `ttl` (ms). While the session is
-- idle (status idle or error, nothing queued) its keys expire `ttl` after the last call of this;
-- while a turn runs, is queued or waits for a person they never expire (PERSIST), and the clock
-- starts again at the turn's end. The event stream keeps its own clock (STREAM_TTL_S), cut to
-- the session's when that is shorter, so it never outlives the session. The expiry hash itself
-- stays: the reaper reads it once the session is gone (expire-check.lua), to release the
-- session's index entries and byte count. Without an expiry hash, nothing is done.
-- k: {meta, messages, inbox, turns, stream, expiry, early}
local function session_expiry(k)
  local ttl = tonumber(redis.call('HGET', k.expiry, 'ttl') or '0')
  if not ttl or ttl <= 0 then return end
  local status = redis.call('HGET', k.meta, 'status')
  if not status then return end
  local keys = {k.meta, k.messages, k.inbox, k.turns, k.early}
  if (status == 'idle' or status == 'error') and redis.call('LLEN', k.inbox) == 0 then
    for _, key in ipairs(keys) do redis.call('PEXPIRE', key, ttl) end
    local left = redis.call('PTTL', k.stream)
    if left == -1 or left > ttl then redis.call('PEXPIRE', k.stream, ttl) end
  else
    for _, key in ipairs(keys) do redis.call('PERSIST', key) end
  end
end
