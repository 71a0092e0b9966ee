--[[ chunked: one command over a long list of arguments, in chunks that unpack() can take.
  call_chunked(cmd, key, list, from, to): runs `cmd key list[from..to]` 1000 arguments at a time
  (Lua's unpack stops near 8000); chunks are even-sized, so pairs (score, member) stay together.
  Returns the reply of the last chunk.
  hmget_chunked(key, fields): HMGET of every field, the same way; their values in order (false: none;
    no fields, no HMGET).
]]
local function call_chunked(cmd, key, list, from, to)
  local reply
  for i = from, to, 1000 do
    reply = redis.call(cmd, key, unpack(list, i, math.min(i + 999, to)))
  end
  return reply
end

local function hmget_chunked(key, fields)
  if #fields > 0 and #fields <= 1000 then return redis.call('HMGET', key, unpack(fields)) end
  local out = {}
  for i = 1, #fields, 1000 do
    local part = redis.call('HMGET', key, unpack(fields, i, math.min(i + 999, #fields)))
    for n = 1, #part do out[i + n - 1] = part[n] end
  end
  return out
end
