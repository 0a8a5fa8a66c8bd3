-- A rebuild putting the attempt counters back from the stored decisions, many at once.
-- ARGV[1] attempts key prefix ("<p>att:"), ARGV[2] the counters' time to live (ms),
-- ARGV[3] the attempts packed as lines "<e164> <time ms> <call id>\n". The call id is the
-- member, as the check's: an attempt already counted is not counted twice.
local prefix, ttl = ARGV[1], ARGV[2]
for e164, ms, member in string.gmatch(ARGV[3], "(%S+) (%d+) (%S+)\n") do
  local key = prefix .. e164
  redis.call("ZADD", key, ms, member)
  redis.call("PEXPIRE", key, ttl)
end
return 0
