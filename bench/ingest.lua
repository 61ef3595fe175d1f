-- wrk script: POST pre-signed Twilio inbound webhooks, each body once.
-- Usage: wrk ... -s bench/ingest.lua URL -- requests.tsv THREADS
-- requests.tsv holds "signature<TAB>form body" lines; thread N sends every THREADS-th line,
-- so no two threads send the same MessageSid.
local threads_made = 0

function setup(thread)
  thread:set("thread_index", threads_made)
  threads_made = threads_made + 1
end

local requests = {}
local position = 0

function init(args)
  local path, threads = args[1], tonumber(args[2])
  local line_number = 0
  for line in io.lines(path) do
    if line_number % threads == thread_index then
      local signature, body = line:match("^([^\t]+)\t(.*)$")
      requests[#requests + 1] = wrk.format("POST", "/sms/inbound", {
        ["Content-Type"] = "application/x-www-form-urlencoded",
        ["X-Twilio-Signature"] = signature,
      }, body)
    end
    line_number = line_number + 1
  end
end

function request()
  position = position + 1
  if position > #requests then
    position = 1 -- ran out: later requests repeat, and count as duplicates
  end
  return requests[position]
end
