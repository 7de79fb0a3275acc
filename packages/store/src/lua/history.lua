-- Shared by the scripts that add messages to a session's history or note a turn's outcome
-- (prepended by scripts.ts). Every message enters the history through history_push, which
-- also keeps the history's time index, so that a timeline in time order (OpenHands events)
-- is read by range, never whole (timeline-walk.ts):
--   meta `ix`: how many entries the index covers, counted push by push (create sets it; a
--     session made before the index has none and is read whole, as is one whose count falls
--     behind its history's length, which a script without this helper pushed to);
--   meta `ix_at`: the latest entry time so far; `ix_tools`: tool calls of the history's
--     assistant messages; `ix_turn`: the turn of the latest entry that has one; `ix_free`: the
--     entries without a turn pushed since (preloaded ones, messages added with no run);
--   meta `ix_start:<turn>`: where a turn's entries start, when 32 or more entries without a
--     turn come before it (a reader counts a turn's entries back from one of them, up to the
--     entry of another turn: this bounds how far it reads);
--   `early` (sorted set, position (10 digits) by time): the entries whose time is before an
--     earlier entry's (a queued message, started after the turns that ran meanwhile; a
--     process's clock behind another's). The others are in time order by position already.

-- Tool calls of a stored assistant message (JSON): decoded only when it has any.
local function tool_calls_of(raw)
  if not string.find(raw, '"tool_calls":[', 1, true) then return 0 end
  local ok, m = pcall(cjson.decode, raw)
  if ok and type(m) == 'table' and m.role == 'assistant' and type(m.tool_calls) == 'table' then return #m.tool_calls end
  return 0
end

-- RPUSH one stored message (JSON) of time `at` (ms, its `_meta.at`) and turn ('' for none).
local function history_push(meta, messages, early, raw, at, turn)
  local len = redis.call('RPUSH', messages, raw)
  local f = redis.call('HMGET', meta, 'ix', 'ix_at', 'ix_tools', 'ix_turn', 'ix_free')
  if not f[1] then return len end
  local fields = {'ix', tonumber(f[1]) + 1}
  if tonumber(at) < tonumber(f[2] or '0') then
    redis.call('ZADD', early, at, string.format('%010d', len - 1))
  else
    fields[#fields + 1] = 'ix_at'
    fields[#fields + 1] = at
  end
  local tools = tool_calls_of(raw)
  if tools > 0 then
    fields[#fields + 1] = 'ix_tools'
    fields[#fields + 1] = tonumber(f[3] or '0') + tools
  end
  local free = tonumber(f[5] or '0')
  if turn == '' then
    free = free + 1
  else
    if turn ~= f[4] and free >= 32 then
      fields[#fields + 1] = 'ix_start:' .. turn
      fields[#fields + 1] = len - 1
    end
    free = 0
    fields[#fields + 1] = 'ix_turn'
    fields[#fields + 1] = turn
  end
  fields[#fields + 1] = 'ix_free'
  fields[#fields + 1] = free
  redis.call('HSET', meta, unpack(fields))
  return len
end

-- Notes a failed or cancelled turn ('failed' | 'canceled') in the turns hash, for the
-- timelines that show it beside its messages. With the index, only a turn that has messages
-- in the history is noted (no timeline shows the others), so the hash's length is the
-- number of turn errors a timeline shows.
local function note_outcome(meta, turns, turn, outcome)
  local f = redis.call('HMGET', meta, 'ix', 'ix_turn')
  if f[1] and f[2] ~= turn then return end
  redis.call('HSET', turns, turn, outcome)
end
