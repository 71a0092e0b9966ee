--[[ tally: the bookkeeping over all devices for one or more requests, in one call (the totals are not
  here: record.lua counts them in the same call as the events).
  Encoded by shared/store/tally.ts only.
  KEYS[1] devices (zset: device -> last write, ms)   KEYS[2] recent anomalies (list)
  KEYS[3] live series (zset: device/metric -> last expiry refresh, ms)
  KEYS[4] recent episode ids (list, newest opening first)   KEYS[5] episode records (hash: id -> packed record, as record.lua writes it)
  KEYS[6] devices whose outbox has entries to deliver (set)
  (all six carry the hash tag {global}, so this runs on Redis Cluster too)
  ARGV[1] now (ms)   ARGV[2] cap of the anomaly list   ARGV[3] D, then D device ids
  then S, then S pairs (refresh time, series member)
  then O, then O pairs (episode id, record) opened, oldest first: the oldest ids beyond the cap leave
    with their records (the record of one opened and closed by the same run is its closed one)
  then C, then C pairs (episode id, closed record) of episodes opened earlier: it overwrites the record
    if it is still kept
  then B, then B devices whose outbox the record calls appended to
  then the rest: anomaly JSON records (times in ms, as record.lua writes them), oldest first
  Returns: nothing.
  Flag allow-oom (of its Redis Function): at maxmemory this still runs, so that the bookkeeping of events already stored (it
  is sent once their record calls have answered) is not lost; it adds at most the device index
  entries and the capped anomaly list of the requests of one turn.
]]
--- @include "chunked"
--- @include "episode-list"

-- The call, registered as a Redis Function (shared/store/functions.ts) with the flag allow-oom.
local function main(KEYS, ARGV)
  local now = ARGV[1]
  local D = tonumber(ARGV[3])
  local at = 4
  if D > 0 then
    local zadd = {}
    for i = 1, D do zadd[2 * i - 1] = now; zadd[2 * i] = ARGV[at + i - 1] end
    call_chunked('ZADD', KEYS[1], zadd, 1, #zadd)
    at = at + D
  end
  local S = tonumber(ARGV[at]); at = at + 1
  if S > 0 then
    call_chunked('ZADD', KEYS[3], ARGV, at, at + 2 * S - 1)
    at = at + 2 * S
  end
  -- Episodes: the opened ones, then the closings of episodes opened before (includes/episode-list.lua).
  local O = tonumber(ARGV[at]); at = at + 1
  local entries = {}
  for i = 0, O - 1 do entries[#entries + 1] = { id = ARGV[at + 2 * i], record = ARGV[at + 2 * i + 1], opened = true } end
  at = at + 2 * O
  local C = tonumber(ARGV[at]); at = at + 1
  for i = 0, C - 1 do entries[#entries + 1] = { id = ARGV[at + 2 * i], record = ARGV[at + 2 * i + 1], opened = false } end
  at = at + 2 * C
  store_episodes(KEYS[4], KEYS[5], tonumber(ARGV[2]), entries)
  local B = tonumber(ARGV[at]); at = at + 1
  if B > 0 then
    call_chunked('SADD', KEYS[6], ARGV, at, at + B - 1)
    at = at + B
  end
  if at <= #ARGV then
    call_chunked('LPUSH', KEYS[2], ARGV, at, #ARGV)
    redis.call('LTRIM', KEYS[2], 0, tonumber(ARGV[2]) - 1)
  end
end
