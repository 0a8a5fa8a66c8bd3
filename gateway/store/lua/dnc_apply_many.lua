-- dnc_apply.lua for many numbers at once (bulk import, repairs).
-- KEYS[1] dnc:current  KEYS[2] dnc:building
-- ARGV[1] dnc key prefix, then pairs: number digits, value ("" to remove)
local written = 0
for i = 1, 2 do
  local marker = redis.call("GET", KEYS[i])
  if marker then
    local sp = string.find(marker, " ", 1, true)
    local generation = string.sub(marker, 1, sp - 1)
    local buckets = tonumber(string.sub(marker, sp + 1))
    local prefix = ARGV[1] .. generation .. ":"
    for j = 2, #ARGV, 2 do
      local n = tonumber(ARGV[j])
      local key = prefix .. string.format("%d", math.fmod(n, buckets))
      local field = string.format("%d", math.floor(n / buckets))
      if ARGV[j + 1] == "" then
        redis.call("HDEL", key, field)
      else
        redis.call("HSET", key, field, ARGV[j + 1])
      end
    end
    written = written + 1
  end
end
return written
