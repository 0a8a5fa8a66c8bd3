-- dnc_apply.lua for many numbers at once (bulk import, repairs, rebuilds).
-- KEYS[1] and KEYS[2]: markers ("<generation> <buckets>") of the generations to write,
-- dnc:current and dnc:building (a rebuild names only the generation it builds, and a
-- marker key it set for it).
-- ARGV[1] dnc key prefix; ARGV[2] the entries packed as lines "<digits> <value>\n", an
-- empty value removing the number. One packed argument keeps the client's work small.
local generations = {}
for i = 1, #KEYS do
  local marker = redis.call("GET", KEYS[i])
  if marker then
    local sp = string.find(marker, " ", 1, true)
    generations[#generations + 1] = {
      ARGV[1] .. string.sub(marker, 1, sp - 1) .. ":", tonumber(string.sub(marker, sp + 1))
    }
  end
end
for _, gen in ipairs(generations) do
  local prefix, buckets = gen[1], gen[2]
  for digits, value in string.gmatch(ARGV[2], "(%d+) ([^\n]*)\n") do
    local n = tonumber(digits)
    local key = prefix .. string.format("%d", math.fmod(n, buckets))
    local field = string.format("%d", math.floor(n / buckets))
    if value == "" then
      redis.call("HDEL", key, field)
    else
      redis.call("HSET", key, field, value)
    end
  end
end
return #generations
