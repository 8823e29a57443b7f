-- wrk script: send pre-built raw HTTP requests from a file (each ended by a NUL byte), in order,
-- one pass, so every request can carry its own user and token; counts the answers' statuses.
--
--   wrk -t1 -c64 -d10s -s benchmarks/requests.lua http://127.0.0.1:PORT -- REQUESTS_FILE
--
-- After the last request of the file it starts again from the first (a replay).

local requests = {}
local position = 0
statuses = {}
local thread_of_run

function setup(thread)
  thread_of_run = thread
end

function init(args)
  local file = assert(io.open(args[1], "rb"))
  local data = file:read("*a")
  file:close()
  local start = 1
  while true do
    local stop = string.find(data, "\0", start, true)
    if not stop then break end
    requests[#requests + 1] = string.sub(data, start, stop - 1)
    start = stop + 1
  end
end

function request()
  position = position + 1
  if position > #requests then position = 1 end
  return requests[position]
end

function response(status, headers, body)
  statuses[status] = (statuses[status] or 0) + 1
end

function done(summary, latency, requests_made)
  -- The statuses live in the thread's own Lua state; wrk -t1 keeps them in one.
  local counts = thread_of_run:get("statuses")
  local parts = {}
  for status, count in pairs(counts or {}) do parts[#parts + 1] = string.format('"%d": %d', status, count) end
  io.write(string.format(
    'WRKJSON {"requests": %d, "seconds": %.3f, "errors": %d, "statuses": {%s}, ' ..
    '"latency_ms": {"p50": %.3f, "p99": %.3f, "max": %.3f}}\n',
    summary.requests, summary.duration / 1e6,
    summary.errors.connect + summary.errors.read + summary.errors.write + summary.errors.status + summary.errors.timeout,
    table.concat(parts, ", "),
    latency:percentile(50) / 1000, latency:percentile(99) / 1000, latency.max / 1000))
end
