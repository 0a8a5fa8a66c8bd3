-- wrk script for the pre-call check benchmark (driven by run.py; see README in run.py).
--
-- Every request is POST /v1/precheck with a marketing call for a callee drawn at random
-- from BENCH_NUMBERS (one E.164 number a line) and a unique request_id.
--
-- Each thread stops sending BENCH_SECONDS after it started: delay() then holds every
-- connection back, so the requests in flight are answered and counted before wrk's own
-- duration (run.py adds a tail) ends. That way every check the gateway judged during
-- the run is one this script saw answered, and the counts can be compared with the
-- decisions in PostgreSQL exactly.
--
-- BENCH_DELAY_MS > 0 spaces each connection's requests by a random 0..2*BENCH_DELAY_MS ms
-- (mean BENCH_DELAY_MS), to hold a rate below the maximum.
--
-- done() writes BENCH_OUT (JSON: counts, times, latency) and BENCH_OUT.ids (the call_id of
-- every allowed answer, one a line).

local ffi = require("ffi")
ffi.cdef([[
typedef struct { long tv_sec; long tv_nsec; } bench_timespec;
int clock_gettime(int clk_id, bench_timespec *tp);
]])
local ts = ffi.new("bench_timespec")
local CLOCK_MONOTONIC = 1

local function now()
  ffi.C.clock_gettime(CLOCK_MONOTONIC, ts)
  return tonumber(ts.tv_sec) + tonumber(ts.tv_nsec) * 1e-9
end

local threads = {}

function setup(thread)
  thread:set("id", #threads + 1)
  table.insert(threads, thread)
end

local BODY = '{"callee":"%s","caller_id":"4008001234","agent_id":"A1001",'
  .. '"campaign_id":"term-life-q4","script_id":"term-life-intro","script_version":3,'
  .. '"purpose":"marketing","list_id":"leads-2026-11","request_id":"%s-%d-%d"}'

function init(args)
  numbers = {}
  for line in io.lines(os.getenv("BENCH_NUMBERS")) do
    if line ~= "" then
      numbers[#numbers + 1] = line
    end
  end
  count_numbers = #numbers
  tag = os.getenv("BENCH_TAG")
  path = os.getenv("BENCH_PATH") or "/v1/precheck"
  headers = {
    ["Content-Type"] = "application/json",
    ["Authorization"] = "Bearer " .. os.getenv("BENCH_TOKEN"),
  }
  delay_ms = tonumber(os.getenv("BENCH_DELAY_MS") or "0") or 0
  math.randomseed(id * 7919 + tonumber(os.getenv("BENCH_SEED") or "1"))
  sent = 0
  answered = 0
  allowed = 0
  denied = 0
  other = 0
  not_ok = 0
  reasons = {}
  allow_ids = {}
  started = now()
  stop_at = started + tonumber(os.getenv("BENCH_SECONDS"))
  last = started
end

function delay()
  if now() >= stop_at then
    return 3600000 -- no more requests from this connection in this run
  end
  if delay_ms <= 0 then
    return 0
  end
  return math.random(0, 2 * delay_ms)
end

function request()
  sent = sent + 1
  local callee = numbers[math.random(count_numbers)]
  local body = string.format(BODY, callee, tag, id, sent)
  return wrk.format("POST", path, headers, body)
end

function response(status, headers, body)
  last = now()
  if status ~= 200 then
    not_ok = not_ok + 1
    local key = "http_" .. status
    reasons[key] = (reasons[key] or 0) + 1
    return
  end
  answered = answered + 1
  if string.find(body, '"decision":"allow"', 1, true) then
    allowed = allowed + 1
    allow_ids[allowed] = string.match(body, '"call_id":"([0-9a-f-]+)"')
  elseif string.find(body, '"decision":"deny"', 1, true) then
    denied = denied + 1
    for code in string.gmatch(body, '"code":"([a-z_]+)"') do
      reasons[code] = (reasons[code] or 0) + 1
    end
  else
    other = other + 1
  end
end

function done(summary, latency, requests)
  local totals = { sent = 0, answered = 0, allowed = 0, denied = 0, other = 0, not_ok = 0 }
  local all_reasons = {}
  local first, final = math.huge, 0
  local ids = io.open(os.getenv("BENCH_OUT") .. ".ids", "w")
  for _, thread in ipairs(threads) do
    for name, _ in pairs(totals) do
      totals[name] = totals[name] + thread:get(name)
    end
    for code, n in pairs(thread:get("reasons")) do
      all_reasons[code] = (all_reasons[code] or 0) + n
    end
    for _, call_id in ipairs(thread:get("allow_ids")) do
      ids:write(call_id, "\n")
    end
    first = math.min(first, thread:get("started"))
    final = math.max(final, thread:get("last"))
  end
  ids:close()
  local parts = {}
  for name, n in pairs(totals) do
    parts[#parts + 1] = string.format('"%s":%d', name, n)
  end
  local codes = {}
  for code, n in pairs(all_reasons) do
    codes[#codes + 1] = string.format('"%s":%d', code, n)
  end
  local e = summary.errors
  local out = io.open(os.getenv("BENCH_OUT"), "w")
  out:write(
    "{",
    table.concat(parts, ","),
    string.format(',"reasons":{%s}', table.concat(codes, ",")),
    string.format(',"seconds":%.6f', final - first),
    string.format(',"wrk_requests":%d', summary.requests),
    string.format(
      ',"errors":{"connect":%d,"read":%d,"write":%d,"status":%d,"timeout":%d}',
      e.connect, e.read, e.write, e.status, e.timeout
    ),
    string.format(
      ',"latency_us":{"p50":%d,"p90":%d,"p99":%d,"p999":%d,"max":%d,"mean":%.1f}',
      latency:percentile(50), latency:percentile(90), latency:percentile(99),
      latency:percentile(99.9), latency.max, latency.mean
    ),
    "}\n"
  )
  out:close()
end
