#!lua
--[[ outbox-settle: the end of a delivery run over one device's outbox, under its lease.
  Encoded by shared/store/outbox.ts only.
  KEYS[1] the device's outbox (stream, group "dispatch")   KEYS[2] its failed deliveries (hash: entry id ->
  failures, "next" -> when to try again, ms)   KEYS[3] its lease (string: the holder's name)
  ARGV[1] holder   ARGV[2] now (ms)   ARGV[3] wait after a first failure (ms)   ARGV[4] the longest wait (ms)
  ARGV[5] how long the failures are kept (s)   ARGV[6] the entry whose delivery failed ("" for none)
  then the ids of the entries delivered (or given up): they are acknowledged and leave the stream,
  with their failures.
  A failed entry's failures are counted, and its device waits ARGV[3] x 2^(failures - 1) ms (at most
  ARGV[4]) before its next try; with none failed, the device may be tried again at once.
  The lease is let go if ARGV[1] still holds it.
  Returns {failures of the failed entry so far, when to try again (ms)}; {0, 0} when none failed.
]]
local n = #ARGV - 6
if n > 0 then
  local ids = {}
  for i = 1, n do ids[i] = ARGV[6 + i] end
  redis.call('XACK', KEYS[1], 'dispatch', unpack(ids))
  redis.call('XDEL', KEYS[1], unpack(ids))
  redis.call('HDEL', KEYS[2], unpack(ids))
end

local reply = {0, 0}
if ARGV[6] ~= '' then
  local failures = redis.call('HINCRBY', KEYS[2], ARGV[6], 1)
  local next_at = tonumber(ARGV[2]) + math.min(tonumber(ARGV[4]), tonumber(ARGV[3]) * 2 ^ (failures - 1))
  redis.call('HSET', KEYS[2], 'next', string.format('%d', next_at))
  redis.call('EXPIRE', KEYS[2], ARGV[5])
  reply = {failures, next_at}
else
  redis.call('HDEL', KEYS[2], 'next')
end

if redis.call('GET', KEYS[3]) == ARGV[1] then redis.call('DEL', KEYS[3]) end
return reply
