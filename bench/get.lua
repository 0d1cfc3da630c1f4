-- wrk script: GET /hello/<a random preloaded username>.
-- Usage: wrk ... -s bench/get.lua URL -- NAMES_FILE (one username a line).
local names = {}
local counter = 0

function setup(thread)
  counter = counter + 1
  thread:set("thread_id", counter)
end

function init(args)
  local file = args[1] or error("get.lua: pass the names file after --")
  for line in io.lines(file) do
    if #line > 0 then names[#names + 1] = line end
  end
  if #names == 0 then error("get.lua: no names in " .. file) end
  math.randomseed(os.time() * 1000 + (thread_id or 0))
end

function request()
  return wrk.format("GET", "/hello/" .. names[math.random(#names)])
end
