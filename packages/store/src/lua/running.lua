-- The reaper's index of sessions with a turn that must be checked on (`running`).
-- Schedules a session's check, never later than a check already scheduled (a refused
-- or queued message must not put off the check of the running turn). The score always
-- changes, so a reaper that read the old score cannot remove the entry (release-check.lua).
local function mark_running(key, session_id, due)
  due = tonumber(due)
  local score = redis.call('ZSCORE', key, session_id)
  if score and tonumber(score) <= due then due = tonumber(score) - 1 end
  redis.call('ZADD', key, due, session_id)
  return due
end
