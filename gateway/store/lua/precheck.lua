-- The pre-call check's one round trip: idempotency, DNC membership and attempt counting,
-- atomically. The attempt is counted only when every other rule passed, the DNC entry (if
-- any) does not block the purpose, and no cap is reached.
--
-- KEYS[1] dnc:current   KEYS[2] att:<e164> (or "")   KEYS[3] idem key (or "")
-- ARGV: 1 mode ("check" | "peek"), 2 number digits ("" if invalid),
--       3 "<blocking scopes> <counts> <others pass> <now ms> <day start ms> <week start ms>
--          <per day> <per 7 days> <min gap ms> <required change>", space-separated:
--          blocking scopes "am" or "a", counts and others pass 0|1, a cap of -1 means
--          none; the cache must have applied the do-not-call change numbered <required>,
--       4 member (call id), 5 body hash, 6 dnc key prefix ("<p>dnc:"), 7 the call id of
--       a pending marker to take over ("" for none: an earlier request with this
--       request_id that ended without a stored decision)
-- (Few arguments and one string back: packing and parsing are per argument and per
-- element, and this script runs on every check.)
-- Returns one string "status|scope|today|week|last|counted|stored"
--   status: "ok" | "degraded" | "behind" (the cache lacks a do-not-call change) | "replay"
--   (stored = earlier answer) | "pending" (stored = the pending request's call id, ""
--   when unknown) | "conflict"
--   scope: "" | "all" | "marketing"; last: -1 when no attempt; stored: "" unless replay

local idem = KEYS[3]
local mode = ARGV[1]
-- This very check run a second time: its command was sent again on a new connection
-- after the first connection broke, and Redis may have run it already. It is judged
-- again as if the first run had not happened.
local again = false
if idem ~= "" and mode == "check" then
  local prior = redis.call("GET", idem)
  if prior then
    local hash_end = string.find(prior, "|", 3, true)
    local prior_hash = string.sub(prior, 3, (hash_end or 0) - 1)
    if hash_end == nil then prior_hash = string.sub(prior, 3) end
    if prior_hash ~= ARGV[5] then
      return "conflict||0|0|-1|0|"
    end
    if string.sub(prior, 1, 1) == "D" then
      return "replay||0|0|-1|0|" .. string.sub(prior, hash_end + 1)
    end
    local pending_id = ""
    if hash_end then pending_id = string.sub(prior, hash_end + 1) end
    if pending_id == ARGV[4] then
      again = true
    elseif pending_id == "" or pending_id ~= ARGV[7] then
      return "pending||0|0|-1|0|" .. pending_id
    end
  end
end

local blocking, counts, others, now_text, day_start, week_start, per_day_text, per_week_text,
  gap_text, required = string.match(ARGV[3],
    "^(%a+) ([01]) ([01]) (%-?%d+) (%-?%d+) (%-?%d+) (%-?%d+) (%-?%d+) (%-?%d+) (%d+)$")

-- "<generation> <buckets> <applied>": missing while a rebuild runs; behind when it has not
-- applied every do-not-call change this check must honour.
local current = redis.call("GET", KEYS[1])
local generation, buckets, applied
if current then
  generation, buckets, applied = string.match(current, "^(%d+) (%d+) (%d+)$")
end
if not generation then
  return "degraded||0|0|-1|0|"
end
if tonumber(applied) < tonumber(required) then
  return "behind||0|0|-1|0|"
end
buckets = tonumber(buckets)
local now_ms = tonumber(now_text)

local digits = ARGV[2]
local scope = ""
if digits ~= "" then
  local n = tonumber(digits)
  local bucket = math.fmod(n, buckets)
  local field = math.floor(n / buckets)
  local value = redis.call("HGET", ARGV[6] .. generation .. ":" .. string.format("%d", bucket),
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
if scope == "marketing" and blocking == "am" then blocked = true end

local today, week, last = 0, 0, -1
local counted = 0
local att = KEYS[2]
if att ~= "" and counts == "1" then
  if mode == "check" then
    redis.call("ZREMRANGEBYSCORE", att, "-inf", "(" .. week_start)
    if again then redis.call("ZREM", att, ARGV[4]) end
  end
  today = redis.call("ZCOUNT", att, day_start, "+inf")
  week = redis.call("ZCOUNT", att, week_start, "+inf")
  local newest = redis.call("ZRANGE", att, -1, -1, "WITHSCORES")
  if newest[2] then last = tonumber(newest[2]) end
  local per_day, per_week, gap = tonumber(per_day_text), tonumber(per_week_text),
    tonumber(gap_text)
  local capped = (per_day >= 0 and today >= per_day) or (per_week >= 0 and week >= per_week)
      or (gap > 0 and last >= 0 and now_ms - last < gap)
  if mode == "check" and others == "1" and not blocked and not capped then
    redis.call("ZADD", att, now_text, ARGV[4])
    redis.call("PEXPIRE", att, 8 * 86400000)
    counted = 1
  end
end

if idem ~= "" and mode == "check" then
  -- Kept as long as an answer would be: if this process dies between storing the
  -- decision and storing the answer, a retry finds the call id here and reads the
  -- decision from PostgreSQL.
  redis.call("SET", idem, "P|" .. ARGV[5] .. "|" .. ARGV[4], "PX", 86400000)
end
return "ok|" .. scope .. "|" .. string.format("%d|%d|%d|%d|", today, week, last, counted)
