#!lua
--[[ outbox-claim: take one device's outbox for a delivery run, and read its next entries.
  Encoded by shared/store/outbox.ts only.
  KEYS[1] the device's outbox (stream; its consumer group "dispatch" is made with it by record.lua)
  KEYS[2] its failed deliveries (hash: entry id -> failures, "next" -> when to try again, ms)
  KEYS[3] its lease (string: the holder's name, expiring)
  ARGV[1] holder   ARGV[2] lease (ms)   ARGV[3] now (ms)   ARGV[4] entries to read at most
  Returns {1, next} when a failed delivery waits until next (ms): the lease is not taken; {0} when
  another holder has the lease; else the lease is taken and {2, id, fields, id, fields, ...}: up to
  ARGV[4] entries, oldest first: those read before and not acknowledged (by a holder that failed, or
  died), then new ones; none at all when there are none (or the stream expired).
  An entry trimmed away (MAXLEN) while it was pending has nothing left to deliver: it is acknowledged
  here and left out.
]]
local next_at = tonumber(redis.call('HGET', KEYS[2], 'next') or '0')
if next_at > tonumber(ARGV[3]) then return {1, next_at} end
if not redis.call('SET', KEYS[3], ARGV[1], 'PX', ARGV[2], 'NX') then return {0} end

local reply = {2}
if redis.call('EXISTS', KEYS[1]) == 0 then return reply end

-- Appends up to `count` entries read from `from` ('0': pending, '>': new) to the reply; returns how many.
local function read(from, count)
  local streams = redis.call('XREADGROUP', 'GROUP', 'dispatch', 'dispatcher', 'COUNT', count, 'STREAMS', KEYS[1], from)
  local found = 0
  for _, entry in ipairs(streams and streams[1][2] or {}) do
    if entry[2] then
      reply[#reply + 1] = entry[1]
      reply[#reply + 1] = entry[2]
      found = found + 1
    else
      redis.call('XACK', KEYS[1], 'dispatch', entry[1])
    end
  end
  return found
end

-- Pending entries are older than any not yet read (entries are read in order), so new ones follow them.
local count = tonumber(ARGV[4])
local pending = read('0', count)
if pending < count then read('>', count - pending) end
return reply
