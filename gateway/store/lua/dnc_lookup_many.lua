-- DNC membership of many numbers at once, for scrubs (no attempt is counted).
-- KEYS[1] dnc:current   ARGV[1] dnc key prefix, ARGV[2] now ms, ARGV[3..] number digits
-- Returns {"degraded"} when the cache is incomplete, else {"ok", s1, s2, ...} with each
-- s "" (not listed), "marketing" or "all".
local current = redis.call("GET", KEYS[1])
if not current then return {"degraded"} end
local sp = string.find(current, " ", 1, true)
local prefix = ARGV[1] .. string.sub(current, 1, sp - 1) .. ":"
local buckets = tonumber(string.sub(current, sp + 1))
local now_ms = tonumber(ARGV[2])
local out = {"ok"}
for i = 3, #ARGV do
  local n = tonumber(ARGV[i])
  local value = redis.call("HGET", prefix .. string.format("%d", math.fmod(n, buckets)),
                           string.format("%d", math.floor(n / buckets)))
  local scope = ""
  if value then
    local bar = string.find(value, "|", 1, true)
    local listed = true
    if bar then
      if tonumber(string.sub(value, bar + 1)) * 1000 <= now_ms then listed = false end
      value = string.sub(value, 1, bar - 1)
    end
    if listed then
      if value == "a" then scope = "all" else scope = "marketing" end
    end
  end
  out[#out + 1] = scope
end
return out
