-- Schedule the reaper's check of a session's running turn (see running.lua).
-- KEYS: running   ARGV: session id, check time (ms)
return mark_running(KEYS[1], ARGV[1], ARGV[2])
