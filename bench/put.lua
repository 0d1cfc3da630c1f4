-- wrk script: PUT /hello/<10 random letters> {"dateOfBirth":"1990-05-17"} (almost always a new
-- user, like bench/pg_put.sql).
local letters = "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ"
local headers = { ["Content-Type"] = "application/json" }
local body = '{"dateOfBirth":"1990-05-17"}'
local counter = 0

function setup(thread)
  counter = counter + 1
  thread:set("thread_id", counter)
end

function init(args)
  math.randomseed(os.time() * 1000 + (thread_id or 0))
end

function request()
  local t = {}
  for i = 1, 10 do
    local k = math.random(52)
    t[i] = letters:sub(k, k)
  end
  return wrk.format("PUT", "/hello/" .. table.concat(t), headers, body)
end
