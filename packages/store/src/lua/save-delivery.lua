-- Write one webhook delivery to a session's delivery log, then trim the log.
-- KEYS: meta, deliveries (hash id → record JSON), delivery index (sorted set id → created ms),
--       bodies (hash id → body)
-- ARGV: delivery id, record JSON (no body), body, 'add' | 'update' | 'body', created ms,
--       now ms, most deliveries kept (0: no cap), longest kept (ms, 0: no limit)
-- The body is stored once, apart from the record: `add` writes both, only if the delivery
-- is new (returns 1 then, else 0); `update` (an attempt, a redelivery) rewrites the small
-- record of a delivery that is still logged, never its body (returns 0 when the delivery
-- was trimmed or expired meanwhile: nothing is written back); `body` stores the body of a
-- record written before bodies were kept apart (it stays in that record until its next
-- update), where none is stored yet.
-- Trimming drops the oldest deliveries past the count, and those created before now - age,
-- record and body together, but never a pending one (its job would find nothing to send).
-- It looks at a bounded number of entries per call, so a write stays cheap whatever the log holds.
-- A live session's log expires `age` after its last write (every entry is then older than
-- that); a log whose session is gone (deleted) expires a day later (or sooner, at `age`).
-- A resend of this call after a lost reply writes the same and trims nothing more.
local id, record, body, mode = ARGV[1], ARGV[2], ARGV[3], ARGV[4]
local created, now, max, age = tonumber(ARGV[5]), tonumber(ARGV[6]), tonumber(ARGV[7]), tonumber(ARGV[8])
local written = 0
if mode == 'add' then
  written = redis.call('HSETNX', KEYS[2], id, record)
  if written == 1 then redis.call('HSET', KEYS[4], id, body) end
elseif redis.call('HEXISTS', KEYS[2], id) == 1 then
  if mode == 'update' then redis.call('HSET', KEYS[2], id, record) end
  if mode == 'body' then redis.call('HSETNX', KEYS[4], id, body) end
  written = 1
end
-- The record is logged now (a resend of `add` finds it there): it is in the index.
if mode == 'add' or written == 1 then redis.call('ZADD', KEYS[3], created, id) end

local LOOK = 50
local function pending(entry)
  local raw = redis.call('HGET', KEYS[2], entry)
  return raw and string.find(raw, '"status":"pending"', 1, true) ~= nil
end
local function drop(entry)
  redis.call('HDEL', KEYS[2], entry)
  redis.call('HDEL', KEYS[4], entry)
  redis.call('ZREM', KEYS[3], entry)
end
if age > 0 then
  for _, entry in ipairs(redis.call('ZRANGEBYSCORE', KEYS[3], '-inf', '(' .. (now - age), 'LIMIT', 0, LOOK)) do
    if not pending(entry) then drop(entry) end
  end
end
if max > 0 then
  local excess = redis.call('ZCARD', KEYS[3]) - max
  if excess > 0 then
    for _, entry in ipairs(redis.call('ZRANGE', KEYS[3], 0, excess + LOOK - 1)) do
      if excess == 0 then break end
      if not pending(entry) then
        drop(entry)
        excess = excess - 1
      end
    end
  end
end

local ttl = age
if redis.call('EXISTS', KEYS[1]) == 0 and (ttl == 0 or ttl > 86400000) then ttl = 86400000 end
if ttl > 0 then
  redis.call('PEXPIRE', KEYS[2], ttl)
  redis.call('PEXPIRE', KEYS[3], ttl)
  redis.call('PEXPIRE', KEYS[4], ttl)
end
return written
