-- DNC membership of many numbers at once, for scrubs (no attempt is counted).
-- KEYS[1] dnc:current   ARGV[1] dnc key prefix, ARGV[2] now ms,
-- ARGV[3] the numbers' digits packed as lines "<digits>\n", ARGV[4] the do-not-call
-- change the cache must have applied
-- Returns "degraded" when the cache is incomplete or behind, else "ok:" followed by one
-- character per number, in order: "-" not listed, "m" scope marketing, "a" scope all.
local current = redis.call("GET", KEYS[1])
if not current then return "degraded" end
local generation, buckets, applied = string.match(current, "^(%d+) (%d+) (%d+)$")
if not generation or tonumber(applied) < tonumber(ARGV[4]) then return "degraded" end
local prefix = ARGV[1] .. generation .. ":"
buckets = tonumber(buckets)
local now_ms = tonumber(ARGV[2])
local out = {"ok:"}
for digits in string.gmatch(ARGV[3], "(%d+)\n") do
  local n = tonumber(digits)
  local value = redis.call("HGET", prefix .. string.format("%d", math.fmod(n, buckets)),
                           string.format("%d", math.floor(n / buckets)))
  local scope = "-"
  if value then
    local bar = string.find(value, "|", 1, true)
    scope = string.sub(value, 1, 1)
    if bar and tonumber(string.sub(value, bar + 1)) * 1000 <= now_ms then scope = "-" end
  end
  out[#out + 1] = scope
end
return table.concat(out)
