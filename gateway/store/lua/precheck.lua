-- The pre-call check's one round trip: idempotency, DNC membership and attempt counting,
-- atomically. The attempt is counted only when every other rule passed, the DNC entry (if
-- any) does not block the purpose, and no cap is reached.
--
-- KEYS[1] dnc:current   KEYS[2] att:<e164> (or "")   KEYS[3] idem key (or "")
-- ARGV: 1 number digits ("" if invalid), 2 blocking scopes ("am" or "a"), 3 counts (0|1),
--       4 others pass (0|1), 5 now ms, 6 day start ms, 7 week start ms, 8 per day (-1 none),
--       9 per 7 days (-1 none), 10 min gap ms, 11 member (call id), 12 body hash,
--       13 mode ("check" | "peek"), 14 dnc key prefix ("<p>dnc:")
-- Returns {status, scope, today, week, last, counted, stored}
--   status: "ok" | "degraded" | "replay" (stored = earlier answer) | "pending" | "conflict"

local idem = KEYS[3]
local mode = ARGV[13]
if idem ~= "" and mode == "check" then
  local prior = redis.call("GET", idem)
  if prior then
    local hash_end = string.find(prior, "|", 3, true)
    local prior_hash = string.sub(prior, 3, (hash_end or 0) - 1)
    if hash_end == nil then prior_hash = string.sub(prior, 3) end
    if prior_hash ~= ARGV[12] then
      return {"conflict", "", 0, 0, -1, 0, ""}
    end
    if string.sub(prior, 1, 1) == "D" then
      return {"replay", "", 0, 0, -1, 0, string.sub(prior, hash_end + 1)}
    end
    return {"pending", "", 0, 0, -1, 0, ""}
  end
end

local current = redis.call("GET", KEYS[1])
if not current then
  return {"degraded", "", 0, 0, -1, 0, ""}
end
local sp = string.find(current, " ", 1, true)
local generation = string.sub(current, 1, sp - 1)
local buckets = tonumber(string.sub(current, sp + 1))

local digits = ARGV[1]
local scope = ""
local now_ms = tonumber(ARGV[5])
if digits ~= "" then
  local n = tonumber(digits)
  local bucket = math.fmod(n, buckets)
  local field = math.floor(n / buckets)
  local value = redis.call("HGET", ARGV[14] .. generation .. ":" .. string.format("%d", bucket),
                           string.format("%d", field))
  if value then
    local bar = string.find(value, "|", 1, true)
    local listed = true
    if bar then
      local expires = tonumber(string.sub(value, bar + 1))
      if expires * 1000 <= now_ms then listed = false end
      value = string.sub(value, 1, bar - 1)
    end
    if listed then
      if value == "a" then scope = "all" else scope = "marketing" end
    end
  end
end

local blocked = false
if scope == "all" then blocked = true end
if scope == "marketing" and ARGV[2] == "am" then blocked = true end

local today, week, last = 0, 0, -1
local counted = 0
local att = KEYS[2]
if att ~= "" and ARGV[3] == "1" then
  local week_start = tonumber(ARGV[7])
  if mode == "check" then
    redis.call("ZREMRANGEBYSCORE", att, "-inf", "(" .. week_start)
  end
  today = redis.call("ZCOUNT", att, ARGV[6], "+inf")
  week = redis.call("ZCOUNT", att, week_start, "+inf")
  local newest = redis.call("ZRANGE", att, -1, -1, "WITHSCORES")
  if newest[2] then last = tonumber(newest[2]) end
  local per_day, per_week, gap = tonumber(ARGV[8]), tonumber(ARGV[9]), tonumber(ARGV[10])
  local capped = (per_day >= 0 and today >= per_day) or (per_week >= 0 and week >= per_week)
      or (last >= 0 and now_ms - last < gap)
  if mode == "check" and ARGV[4] == "1" and not blocked and not capped then
    redis.call("ZADD", att, now_ms, ARGV[11])
    redis.call("PEXPIRE", att, 8 * 86400000)
    counted = 1
  end
end

if idem ~= "" and mode == "check" then
  redis.call("SET", idem, "P|" .. ARGV[12], "PX", 30000)
end
return {"ok", scope, today, week, last, counted, ""}
