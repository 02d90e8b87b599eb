-- wrk script of W1, W2 and R1 (see bench/common/wrk.py). POSTs the JSON bodies of the file given as
-- the first argument, one per line, in turn. "@N@" in a body becomes "<label>-<thread>-<request>"
-- (label: the second argument), unique per request, e.g. a SKU. Each answer is tallied by its
-- first __typename, "errors" or "status-<code>", and the tallies are printed at the end: GraphQL
-- errors answer 200, so wrk's own counts cannot tell them from throughput.
local threads = {}

function setup(thread)
  table.insert(threads, thread)
  thread:set("thread_number", #threads)
end

function init(args)
  label = args[2]
  bodies = {}
  for line in io.lines(args[1]) do
    local at = line:find("@N@", 1, true)
    if at then
      table.insert(bodies, { line:sub(1, at - 1), line:sub(at + 3) })
    else
      table.insert(bodies, { line })
    end
  end
  sent = 0
  answers = {}
  wrk.method = "POST"
  wrk.headers["Content-Type"] = "application/json"
end

function request()
  sent = sent + 1
  local body = bodies[(sent - 1) % #bodies + 1]
  local text = body[1]
  if body[2] then
    text = body[1] .. label .. "-" .. thread_number .. "-" .. sent .. body[2]
  end
  return wrk.format(nil, nil, nil, text)
end

function response(status, headers, body)
  local kind
  if status ~= 200 then
    kind = "status-" .. status
  elseif body:find('"errors"', 1, true) then
    kind = "errors"
  else
    -- "hits": an answer of Elasticsearch's _search (R1's raw baseline)
    kind = body:match('"__typename"%s*:%s*"(%w+)"') or (body:find('"hits"', 1, true) and "hits") or "unknown"
  end
  answers[kind] = (answers[kind] or 0) + 1
end

function done(summary, latency, requests)
  for _, thread in ipairs(threads) do
    for kind, count in pairs(thread:get("answers")) do
      io.write(string.format("answer %s %d\n", kind, count))
    end
  end
end
