-- Apply one numbered do-not-call change (or a part of it) to a generation, in order: only
-- when the generation has applied every change before it, and never twice.
-- KEYS[1] the generation's marker (dnc:current, or dnc:building during a rebuild),
--         "<generation> <buckets> <applied>"
-- ARGV[1] dnc key prefix, ARGV[2] the applied number the marker must hold (the change's
-- number less one), ARGV[3] the number to record once done ("" for a part of a change
-- that more parts follow), ARGV[4] the change as lines "<digits> <value>\n", an empty
-- value taking the number out.
-- Returns the marker's applied number afterwards (so: ARGV[3] when applied, something
-- else when the marker held another number and nothing was written), or -1 when there is
-- no marker.
local marker = redis.call("GET", KEYS[1])
if not marker then return -1 end
local generation, buckets, applied = string.match(marker, "^(%d+) (%d+) (%d+)$")
if not generation then return -1 end
if applied ~= ARGV[2] then return tonumber(applied) end
local prefix = ARGV[1] .. generation .. ":"
local count = tonumber(buckets)
for digits, value in string.gmatch(ARGV[4], "(%d+) ([^\n]*)\n") do
  local n = tonumber(digits)
  local key = prefix .. string.format("%d", math.fmod(n, count))
  local field = string.format("%d", math.floor(n / count))
  if value == "" then
    redis.call("HDEL", key, field)
  else
    redis.call("HSET", key, field, value)
  end
end
if ARGV[3] == "" then return tonumber(applied) end
redis.call("SET", KEYS[1], generation .. " " .. buckets .. " " .. ARGV[3], "KEEPTTL")
return tonumber(ARGV[3])
