-- wrk script of bench/unsubscribe.py: RFC 8058 one-click POSTs, one
-- subscriber's token each. Arguments: the tokens file (one a line) and the
-- number of threads; with a third, "get", the lines are paths to GET and a
-- 302 is the answer expected (bench/redirects.py's counted links) rather
-- than a 200. Thread k takes lines k, k+n, k+2n ... and cycles
-- through them. wrk runs one connection per thread here, so a thread's
-- answers come in the order of its requests: each status is kept by line,
-- for the benchmark to check the store against.

local threads = {}

function setup(thread)
  thread:set("number", #threads)
  table.insert(threads, thread)
end

function init(args)
  local path, count, get = args[1], tonumber(args[2]), args[3] == "get"
  expected = get and 302 or 200
  lines, posts = {}, {}
  local n = 0
  for line in io.lines(path) do
    if n % count == number then
      lines[#lines + 1] = n
      if get then
        posts[#posts + 1] = wrk.format("GET", line)
      else
        posts[#posts + 1] = wrk.format(
          "POST",
          "/u/" .. line,
          { ["Content-Type"] = "application/x-www-form-urlencoded" },
          "List-Unsubscribe=One-Click"
        )
      end
    end
    n = n + 1
  end
  -- line -> the status of its answer; 0: sent, and no answer was read (the
  -- connection failed, or wrk stopped first), so it may or may not count.
  outcomes = {}
  other = 0 -- answers other than the one expected
  turn = 0
  pending = nil
  -- wrk calls request() once on its first thread to look at the request,
  -- and never sends that one.
  probe = number == 0
end

local function unanswered(line)
  if line and outcomes[line] ~= expected then
    outcomes[line] = 0
  end
end

function request()
  if probe then
    probe = false
    return posts[1]
  end
  unanswered(pending)
  turn = turn % #posts + 1
  pending = lines[turn]
  return posts[turn]
end

function response(status, headers, body)
  if status ~= expected then
    other = other + 1
  end
  if outcomes[pending] ~= expected then
    outcomes[pending] = status
  end
  pending = nil
end

function done(summary, latency, requests)
  local e = summary.errors
  io.write(string.format("bench: summary %d %d %d\n", summary.duration, summary.requests,
    e.connect + e.read + e.write + e.timeout))
  for _, p in ipairs({ 50, 90, 99 }) do
    io.write(string.format("bench: latency p%g %d\n", p, latency:percentile(p)))
  end
  io.write(string.format("bench: latency max %d\n", latency.max))
  for _, thread in ipairs(threads) do
    local outcomes = thread:get("outcomes")
    local pending = thread:get("pending")
    if pending and outcomes[pending] ~= thread:get("expected") then
      outcomes[pending] = 0
    end
    io.write(string.format("bench: other %d\n", thread:get("other")))
    for line, status in pairs(outcomes) do
      io.write(string.format("bench: outcome %d %d\n", line, status))
    end
  end
end
