-- Write one webhook delivery to a session's delivery log, then trim the log.
-- KEYS: meta, deliveries (hash id → JSON), delivery index (sorted set id → created ms)
-- ARGV: delivery id, delivery JSON, 'nx' (only if new) | 'set', created ms, now ms,
--       most deliveries kept (0: no cap), longest kept (ms, 0: no limit)
-- Trimming drops the oldest deliveries past the count, and those created before now - age,
-- but never a pending one (its job would find nothing to send). It looks at a bounded
-- number of entries per call, so a write stays cheap whatever the log holds.
-- A live session's log expires `age` after its last write (every entry is then older than
-- that); a log whose session is gone (deleted) expires a day later (or sooner, at `age`).
-- A resend of this call after a lost reply writes the same and trims nothing more.
local id, json, mode = ARGV[1], ARGV[2], ARGV[3]
local created, now, max, age = tonumber(ARGV[4]), tonumber(ARGV[5]), tonumber(ARGV[6]), tonumber(ARGV[7])
local written
if mode == 'nx' then
  written = redis.call('HSETNX', KEYS[2], id, json)
else
  redis.call('HSET', KEYS[2], id, json)
  written = 1
end
redis.call('ZADD', KEYS[3], created, id)

local LOOK = 50
local function pending(entry)
  local raw = redis.call('HGET', KEYS[2], entry)
  return raw and string.find(raw, '"status":"pending"', 1, true) ~= nil
end
local function drop(entry)
  redis.call('HDEL', KEYS[2], entry)
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
end
return written
