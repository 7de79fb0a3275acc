-- A turn ended: drop the session's entry from the reaper's index, so the index holds only
-- sessions with work left. Kept while a turn runs (or waits for a person) and while turn-end
-- events wait in the outbox: the reaper still has to repair or flush those. Idempotent.
-- KEYS: meta, outbox, running   ARGV: session id
-- Returns 1 when the entry was removed, else 0.
local status = redis.call('HGET', KEYS[1], 'status')
if status ~= 'idle' and status ~= 'error' then return 0 end
if redis.call('LLEN', KEYS[2]) > 0 then return 0 end
return redis.call('ZREM', KEYS[3], ARGV[1])
