-- Replays pre-generated request bodies, one per line, each used once; reports JSON.
-- wrk ... -s replay.lua URL -- METHOD PATH FILE|- AUTH|- NTHREADS
-- FILE: one form-encoded body per line (each thread takes every NTHREADS-th line);
-- "-" sends no body (GET). AUTH: an Authorization header value, or "-".
-- When a thread runs out of bodies it starts over and counts the reuse in "wrapped"
-- (single-use state then answers 4xx, which "non2xx" shows).

local threads = {}
local counter = 1

function setup(thread)
  table.insert(threads, thread)
  thread:set("tid", #threads)
end

function init(args)
  method, path, file, auth, nthreads = args[1], args[2], args[3], args[4], tonumber(args[5])
  headers = {}
  bodies = {}
  wrapped = 0
  if auth ~= "-" then headers["Authorization"] = auth end
  if file ~= "-" then
    headers["Content-Type"] = "application/x-www-form-urlencoded"
    local i = 0
    for line in io.lines(file) do
      if i % nthreads == tid - 1 then bodies[#bodies + 1] = line end
      i = i + 1
    end
  end
end

function request()
  if #bodies == 0 then
    return wrk.format(method, path, headers)
  end
  if counter > #bodies then
    counter = 1
    wrapped = wrapped + 1
  end
  local body = bodies[counter]
  counter = counter + 1
  return wrk.format(method, path, headers, body)
end

function done(summary, latency, requests)
  local wraps = 0
  for _, t in ipairs(threads) do wraps = wraps + (t:get("wrapped") or 0) end
  local e = summary.errors
  io.write(string.format(
    'WRK_JSON {"requests": %d, "duration_us": %d, "p50_us": %d, "p99_us": %d, ' ..
    '"non2xx": %d, "socket_errors": %d, "wrapped": %d}\n',
    summary.requests, summary.duration, latency:percentile(50), latency:percentile(99),
    e.status, e.connect + e.read + e.write + e.timeout, wraps))
end
