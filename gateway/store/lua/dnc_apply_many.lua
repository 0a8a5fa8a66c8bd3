-- A rebuild's bulk load of the generation it builds, many numbers a call.
-- KEYS: markers ("<generation> <buckets> <applied>") of the generations to write (a
-- rebuild names the one it builds).
-- ARGV[1] dnc key prefix; ARGV[2] the entries packed as lines "<digits> <value>\n", an
-- empty value removing the number. One packed argument keeps the client's work small.
local generations = {}
for i = 1, #KEYS do
  local marker = redis.call("GET", KEYS[i])
  if marker then
    local generation, buckets = string.match(marker, "^(%d+) (%d+) %d+$")
    if generation then
      generations[#generations + 1] = {ARGV[1] .. generation .. ":", tonumber(buckets)}
    end
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
