-- Write one number's DNC state into the live generation and, while a rebuild runs, into
-- the generation being built, so the rebuild cannot miss a change made during it.
-- KEYS[1] dnc:current  KEYS[2] dnc:building
-- ARGV[1] number digits, ARGV[2] value ("" to remove), ARGV[3] dnc key prefix
local n = tonumber(ARGV[1])
local written = 0
for i = 1, 2 do
  local marker = redis.call("GET", KEYS[i])
  if marker then
    local sp = string.find(marker, " ", 1, true)
    local generation = string.sub(marker, 1, sp - 1)
    local buckets = tonumber(string.sub(marker, sp + 1))
    local key = ARGV[3] .. generation .. ":" .. string.format("%d", math.fmod(n, buckets))
    local field = string.format("%d", math.floor(n / buckets))
    if ARGV[2] == "" then
      redis.call("HDEL", key, field)
    else
      redis.call("HSET", key, field, ARGV[2])
    end
    written = written + 1
  end
end
return written
