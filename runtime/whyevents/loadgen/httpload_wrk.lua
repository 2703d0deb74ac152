-- httpload_wrk.lua: SEDA's HttpLoad client model for wrk (closed loop, think time, reconnects), as wrk allows.
--
-- Driven by whyevents.loadgen.wrk.run_httpload_wrk; configured through environment variables
-- (wrk's setup() runs before any script argument is seen, so arguments would not reach it):
--
--   WHYEVENTS_TRACE        file of URL paths, one per line (RequestMix.write_trace's format)
--   WHYEVENTS_RPC          requests per connection (HttpLoad: 5)
--   WHYEVENTS_THINK_MS     think time after every response, ms (HttpLoad: 20)
--   WHYEVENTS_CLOSE        "counter" (default) or "random": how a connection's last request is
--                          chosen (see below)
--   WHYEVENTS_HOST         Host header value
--   WHYEVENTS_ADDRS        destination addresses, comma separated; thread i connects to
--                          addrs[i mod n] (wrk's thread.addr); empty: the URL's address
--   WHYEVENTS_PORT         the port for those addresses
--   WHYEVENTS_WINDOW       "start,end" in CLOCK_REALTIME seconds: requests and closes sent
--                          inside it are counted apart (the measured window after warm-up)
--   WHYEVENTS_SEED         offsets each thread's walk through the trace
--
-- The model and where it differs from HttpLoad:
--   * think time: delay() returns it, and wrk applies it after every response before the next
--     request on that connection (also before the first request of a reconnected connection:
--     HttpLoad thinks, then reconnects, so the pause is the same). wrk's timers are whole
--     milliseconds on a truncated clock (ae: the deadline is floor_ms(now) + delay, checked when
--     the loop next wakes), so a returned 20 ends 19-21 ms later depending on when the loop
--     polls. The think is made exact on average as in the Python client: each thread sleeps
--     towards absolute deadlines, "now + think - carry", where carry is how late the thread's
--     last think ended (request() pairs thinks and deadlines first-in first-out; the sums, and
--     so the mean, do not depend on the pairing). think_ms_mean in the summary is the think
--     time measured in the window (delay() -> request()).
--   * a new connection after RPC requests: wrk's Lua has no per-connection hook (request() does
--     not say which connection asks), so the script cannot count a connection's requests.
--     "counter" sends "Connection: close" on every RPC-th request of a wrk *thread*; the server
--     answers and closes, wrk reconnects. While the thread's connections take turns in a fixed
--     order (they do: equal think times, equal service), a connection's close falls on every
--     RPC-th of its own requests whenever the thread's connection count is coprime to RPC
--     (the driver gives every thread a power-of-two share, coprime to 5), which is exactly
--     HttpLoad; when the order drifts the count per connection spreads around RPC, its mean
--     stays RPC. "random" closes each request with probability 1/RPC: mean RPC, geometric
--     spread, no dependence on order.
--   * paths: each thread walks the trace from its own offset, in order, wrapping around; the
--     trace is i.i.d. draws from the SPECweb99 mix, so every thread requests the mix.
--   * HTTP/1.1 keep-alive requests like HttpLoad's; wrk reads each whole response
--     (Content-Length) and counts bytes, status >= 400 and socket errors.

local ffi = require("ffi")
ffi.cdef [[
  typedef struct { long tv_sec; long tv_nsec; } whyevents_timespec;
  int clock_gettime(int clk_id, whyevents_timespec *tp);
]]
local ts = ffi.new("whyevents_timespec")
local function now()
  ffi.C.clock_gettime(0, ts)        -- CLOCK_REALTIME: the driver's window is wall-clock
  return tonumber(ts.tv_sec) + tonumber(ts.tv_nsec) * 1e-9
end

local function env(name, default)
  local v = os.getenv(name)
  if v == nil or v == "" then return default end
  return v
end

local threads = {}
local counter = 0

-- Runs in the main Lua state once per wrk thread, before the threads start.
function setup(thread)
  counter = counter + 1
  thread:set("thread_index", counter - 1)
  local addrs = {}
  for a in string.gmatch(env("WHYEVENTS_ADDRS", ""), "[^,]+") do
    addrs[#addrs + 1] = a
  end
  if #addrs > 0 then
    local host = addrs[((counter - 1) % #addrs) + 1]
    local found = wrk.lookup(host, env("WHYEVENTS_PORT", "80"))
    if found == nil or #found == 0 then
      error("whyevents httpload: cannot resolve " .. host)
    end
    thread.addr = found[1]
  end
  table.insert(threads, thread)
end

-- Per-thread state (each wrk thread has its own Lua state running this file).
-- (the counters are globals: done() reads them with thread:get)
local reqs_open, reqs_close, ntrace, pos = nil, nil, 0, 0
local rpc, think_ms, random_close = 5, 20, false
local win_start, win_end = -1, -1
sent, closes, sent_win, closes_win = 0, 0, 0, 0
think_sum, think_n = 0, 0           -- think time measured in the window (s, count)
local dues, due_head, due_tail = {}, 1, 0    -- thinks in progress: {start, deadline}, FIFO
local carry = 0                     -- how late (s) the thread's last think ended

function init(args)
  rpc = tonumber(env("WHYEVENTS_RPC", "5"))
  think_ms = tonumber(env("WHYEVENTS_THINK_MS", "20"))
  random_close = env("WHYEVENTS_CLOSE", "counter") == "random"
  local host = env("WHYEVENTS_HOST", "127.0.0.1")
  local w = env("WHYEVENTS_WINDOW", "")
  local a, b = string.match(w, "^([%d.]+),([%d.]+)$")
  if a ~= nil then win_start, win_end = tonumber(a), tonumber(b) end
  local paths = {}
  local trace = env("WHYEVENTS_TRACE", "")
  if trace ~= "" then
    local f = assert(io.open(trace, "r"))
    for line in f:lines() do
      line = string.gsub(line, "%s+$", "")
      if line ~= "" and string.sub(line, 1, 1) ~= "#" then paths[#paths + 1] = line end
    end
    f:close()
  end
  if #paths == 0 then paths[1] = "/" end
  reqs_open, reqs_close = {}, {}
  for i, p in ipairs(paths) do
    local head = "GET " .. p .. " HTTP/1.1\r\nHost: " .. host .. "\r\n"
    reqs_open[i] = head .. "Connection: keep-alive\r\n\r\n"
    reqs_close[i] = head .. "Connection: close\r\n\r\n"
  end
  ntrace = #paths
  local index = thread_index or 0
  local seed = tonumber(env("WHYEVENTS_SEED", "0")) or 0
  math.randomseed(seed * 7919 + index + 1)
  pos = (index * 7919 + seed * 104729) % ntrace       -- spread the threads over the trace
end

function delay()
  if think_ms <= 0 then return 0 end
  local t = now()
  local want = think_ms / 1000 - carry
  if want < 0 then want = 0 end
  due_tail = due_tail + 1
  dues[due_tail] = { t, t + want }
  return math.floor(want * 1000 + 0.5)
end

local function thought(t)
  if due_head > due_tail then return end    -- a request without a think (reconnect on error)
  local d = dues[due_head]
  dues[due_head] = nil
  due_head = due_head + 1
  local think_s = think_ms / 1000
  carry = math.min(math.max(t - d[2], -think_s), think_s)
  if t >= win_start and t < win_end then
    think_sum = think_sum + (t - d[1])
    think_n = think_n + 1
  end
end

function request()
  if think_ms > 0 then thought(now()) end
  pos = pos + 1
  if pos > ntrace then pos = 1 end
  sent = sent + 1
  local close
  if random_close then
    close = math.random(rpc) == 1
  else
    close = sent % rpc == 0
  end
  if win_start >= 0 then
    local t = now()
    if t >= win_start and t < win_end then
      sent_win = sent_win + 1
      if close then closes_win = closes_win + 1 end
    end
  end
  if close then
    closes = closes + 1
    return reqs_close[pos]
  end
  return reqs_open[pos]
end

-- Runs in the main state after the run: one JSON line for the driver.
function done(summary, latency, requests)
  local sent_all, closes_all, sw, cw, ts, tn = 0, 0, 0, 0, 0, 0
  for _, t in ipairs(threads) do
    ts = ts + (t:get("think_sum") or 0)
    tn = tn + (t:get("think_n") or 0)
    sent_all = sent_all + (t:get("sent") or 0)
    closes_all = closes_all + (t:get("closes") or 0)
    sw = sw + (t:get("sent_win") or 0)
    cw = cw + (t:get("closes_win") or 0)
  end
  local e = summary.errors
  local pct = {}
  for _, p in ipairs({ 50, 90, 99, 99.9 }) do
    pct[#pct + 1] = string.format('"p%s": %.3f', tostring(p), latency:percentile(p) / 1000.0)
  end
  io.write(string.format(
    'WHYEVENTS_JSON {"duration_us": %d, "requests": %d, "bytes": %d, '
    .. '"errors": {"connect": %d, "read": %d, "write": %d, "status": %d, "timeout": %d}, '
    .. '"requests_sent": %d, "closes_sent": %d, "requests_sent_window": %d, '
    .. '"closes_sent_window": %d, "threads": %d, "think_ms_mean": %s, '
    .. '"latency_ms": {%s, "mean": %.3f, "stdev": %.3f, "max": %.3f}}\n',
    summary.duration, summary.requests, summary.bytes,
    e.connect, e.read, e.write, e.status, e.timeout,
    sent_all, closes_all, sw, cw, #threads,
    tn > 0 and string.format("%.4f", ts * 1000 / tn) or "null",
    table.concat(pct, ", "), latency.mean / 1000.0, latency.stdev / 1000.0,
    latency.max / 1000.0))
  -- On request (WHYEVENTS_QUANTILES: percents, comma separated), the latency distribution as
  -- those quantiles, so that several wrk runs (load on several hosts) can be merged as one
  -- distribution (whyevents.loadgen.wrk_merge) rather than by averaging their percentiles.
  local grid = env("WHYEVENTS_QUANTILES", "")
  if grid ~= "" then
    local qs = {}
    for p in string.gmatch(grid, "[^,]+") do
      qs[#qs + 1] = string.format("[%s, %.3f]", p, latency:percentile(tonumber(p)) / 1000.0)
    end
    io.write(string.format(
      'WHYEVENTS_QUANTILES {"requests": %d, "timeouts": %d, "min": %.3f, "max": %.3f, '
      .. '"q": [%s]}\n', summary.requests, e.timeout, latency.min / 1000.0,
      latency.max / 1000.0, table.concat(qs, ", ")))
  end
end
