-- Shared by the scripts that write a session's event stream (prepended by scripts.ts).
-- Appends one event (type, data JSON) to the stream: kept to about the last 1,000 events,
-- expiring `ttl` ms after the newest one; the stream key's name doubles as the pub/sub
-- channel that wakes the API processes following it (SSE, GET /sessions/{id}/events).
local function stream_add(stream, ttl, type, data)
  local id = redis.call('XADD', stream, 'MAXLEN', '~', 1000, '*', 'type', type, 'data', data)
  redis.call('PEXPIRE', stream, ttl)
  redis.call('PUBLISH', stream, type)
  return id
end

-- The status event of a turn's start or end.
local function stream_status(stream, ttl, status, turn_id)
  return stream_add(stream, ttl, 'status', '{"status":"' .. status .. '","turn_id":"' .. turn_id .. '"}')
end
