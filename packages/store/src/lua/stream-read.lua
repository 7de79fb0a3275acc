-- Read a session's event stream together with the session's state, for an SSE follower.
-- KEYS: meta, stream   ARGV: 'open' | 'read', id to read after ('' for none), count, max bytes (0: no limit)
-- false: no such session. Otherwise one of
--   {'entries' | 'more', created_at, {id, {field, value...}}...}: the entries after the id, at most
--     count, and no more field bytes than max bytes (but always one, however large); 'more' when
--     max bytes cut the read short, so entries after these are waiting;
--   {'snapshot', created_at, status, turn_id, head id, resync ('1' | '')}: the session's state as of
--     the newest entry (head id; '0-0' when there is none). 'open' answers a snapshot when no id is
--     given, and (resync) when events after the given id may be gone: it is older than the oldest
--     entry kept (trimmed or expired), or newer than the newest. The id '0-0' reads all that is kept.
local f = redis.call('HMGET', KEYS[1], 'created_at', 'status', 'turn_id')
if not f[1] then return false end
local after = ARGV[2]

local function parse(id)
  local dash = string.find(id, '-', 1, true)
  return tonumber(string.sub(id, 1, dash - 1)), tonumber(string.sub(id, dash + 1))
end
local function less(a, b)
  local ams, aseq = parse(a)
  local bms, bseq = parse(b)
  return ams < bms or (ams == bms and aseq < bseq)
end
local function snapshot(head, resync)
  return {'snapshot', f[1], f[2], f[3] or '', head and head[1] or '0-0', resync and '1' or ''}
end

if ARGV[1] == 'open' then
  local head = redis.call('XREVRANGE', KEYS[2], '+', '-', 'COUNT', 1)[1]
  if after == '' then return snapshot(head, false) end
  if after ~= '0-0' then
    local first = redis.call('XRANGE', KEYS[2], '-', '+', 'COUNT', 1)[1]
    if not first or less(after, first[1]) or less(head[1], after) then return snapshot(head, true) end
  end
end
local out = {'entries', f[1]}
local budget = tonumber(ARGV[4]) or 0
local bytes = 0
for _, entry in ipairs(redis.call('XRANGE', KEYS[2], '(' .. after, '+', 'COUNT', ARGV[3])) do
  local size = 0
  for i = 2, #entry[2], 2 do size = size + #entry[2][i] end
  if budget > 0 and #out > 2 and bytes + size > budget then
    out[1] = 'more'
    break
  end
  bytes = bytes + size
  out[#out + 1] = entry
end
return out
