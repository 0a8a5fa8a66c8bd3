-- A rebuild putting back the answers kept for retries, many at once.
-- ARGV: triples of key, time to live (ms), value. An answer still in Redis stays.
for i = 1, #ARGV, 3 do
  redis.call("SET", ARGV[i], ARGV[i + 2], "PX", ARGV[i + 1], "NX")
end
return 0
