-- A worker takes the session's running turn. The fence is bumped on every claim, so
-- the result of an earlier claimant (one that lost its BullMQ lock) is refused later.
-- `run` counts the turn's resumes: each has a job of its own, and only the job of the
-- turn's current run may claim it (an older one, retried by BullMQ, is stale).
-- Returns {'ok', fence, agent, cancelled ('1' | ''), steps recorded, resume JSON ('' for none),
--   outbox length, history length, SHA-1 of the last history entry ('' when empty), incarnation}:
--   a turn taken over goes on after its last recorded step. The history itself is not read here
--   (a whole-history read would hold Redis for as long as the history is long): the worker reads
--   what it lacks outside any script, and checks it against this length and hash.
-- KEYS: meta, messages, outbox   ARGV: turn id, run
local fields = redis.call('HMGET', KEYS[1], 'status', 'turn_id', 'agent', 'cancel_turn', 'step_turn', 'steps', 'run', 'resume', 'incarnation')
if not fields[1] then return {'gone'} end
if fields[1] ~= 'running' or fields[2] ~= ARGV[1] then return {'stale'} end
-- Step state is the turn's only while `step_turn` names it (left over from an earlier turn otherwise).
local steps, run, resume = '0', '0', ''
if fields[5] == ARGV[1] then steps, run, resume = fields[6] or '0', fields[7] or '0', fields[8] or '' end
if run ~= ARGV[2] then return {'stale'} end
local fence = redis.call('HINCRBY', KEYS[1], 'fence', 1)
local last = redis.call('LINDEX', KEYS[2], -1)
return {'ok', tostring(fence), fields[3], fields[4] == ARGV[1] and '1' or '', steps, resume, redis.call('LLEN', KEYS[3]),
  redis.call('LLEN', KEYS[2]), last and redis.sha1hex(last) or '', fields[9] or ''}
