--[[ chunked: one command over a long list of arguments, in chunks that unpack() can take.
  call_chunked(cmd, key, list, from, to): runs `cmd key list[from..to]` 1000 arguments at a time
  (Lua's unpack stops near 8000); chunks are even-sized, so pairs (score, member) stay together.
  Returns the reply of the last chunk.
]]
local function call_chunked(cmd, key, list, from, to)
  local reply
  for i = from, to, 1000 do
    reply = redis.call(cmd, key, unpack(list, i, math.min(i + 999, to)))
  end
  return reply
end
