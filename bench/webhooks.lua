-- wrk script: posts distinct, pre-signed Nango sync webhooks (one file line each: hmac<TAB>body),
-- each thread its own slice, and counts the 200s so the bench can check them against stored rows.
local threads = {}
local lines = {}

function setup(thread)
  thread:set("id", #threads)
  table.insert(threads, thread)
end

function init(args)
  local file = assert(io.open(args[1], "r"))
  local all = {}
  for line in file:lines() do table.insert(all, line) end
  file:close()
  local count = tonumber(args[2])
  -- Thread `id` of `count` takes every count-th line, so no two requests share a body.
  for index = id + 1, #all, count do table.insert(lines, all[index]) end
  position = 0
  accepted = 0
  other = 0
end

function request()
  position = position + 1
  local line = lines[position]
  if line == nil then
    -- Out of distinct bodies: repeat the first one (the bench sizes the file so this does not happen).
    line = lines[1]
  end
  local tab = line:find("\t", 1, true)
  local headers = { ["Content-Type"] = "application/json", ["X-Nango-Hmac-Sha256"] = line:sub(1, tab - 1) }
  return wrk.format("POST", "/webhooks/nango", headers, line:sub(tab + 1))
end

function response(status, headers, body)
  if status == 200 and body:find("stored", 1, true) then accepted = accepted + 1 else other = other + 1 end
end

function done(summary, latency, requests)
  local stored, rest = 0, 0
  for _, thread in ipairs(threads) do
    stored = stored + thread:get("accepted")
    rest = rest + thread:get("other")
  end
  io.write(string.format("webhooks_stored_answers %d\nwebhooks_other_answers %d\n", stored, rest))
end
