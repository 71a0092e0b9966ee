--[[ record: apply a run of events of ONE device to its series and anomaly list, atomically, after its
  rate limit and its idempotency check. Encoded and decoded by shared/store/record-script.ts only.
  KEYS[1]  series index of the device (zset: metric -> time its keys' expiry was last refreshed, ms)
  KEYS[2]  recent anomalies of the device (list of JSON, newest first)
  KEYS[3]  event ids seen (zset: id -> expiry, ms)      KEYS[4]  rate-limit bucket (hash: tokens, at)
  KEYS[3+2i], KEYS[4+2i]  window list and state hash of metric i, for i = 1..M
  ARGV[1] window size W   ARGV[2] z threshold   ARGV[3] min samples   ARGV[4] ttl (s)
  ARGV[5] cap of the anomaly list   ARGV[6] now (ms)   ARGV[7] device id   ARGV[8] reply mode
  ARGV[9] id ttl (s)   ARGV[10] rate limit (events/s, 0 = off)   ARGV[11] burst
  ARGV[12] M, ARGV[13..12+M] metric names
  then E, and per event: timestamp (ms), id ("" for none), k, then k pairs (metric number 1..M, value as text)
  Returns {"limited", retry after (ms)} when the bucket cannot take the new events (nothing written), else
  {"ok", D, the D duplicate event numbers, then per applied value in input order:
     reply mode "full" -> avg, z, anomaly (0/1); mode "anomalies" -> only anomalous values: event number,
     metric number, avg, z}.
  avg and z are "%.17g" text; z is "inf" or "-inf" when the baseline has zero variance.
  An event whose id was applied within the id ttl (or earlier in this call) is a duplicate: not applied.

  State hash: one field "state", 17 little-endian doubles (layout v1, decoded in shared/store/series-state.ts):
  version, n, k, s1, s2, e1, e2, w, count, anomalies, refreshed, last, avg, z, anomaly, ts, updated.

  Anomaly records (device list) are JSON with times in ms, the format the tally writes to the global list.
  They are built by concatenation, which is safe: the device id and metric names passed the event schema
  (characters [A-Za-z0-9_.:-] and [a-z0-9_], nothing JSON must escape), and values, avg and z are
  number texts (JavaScript's String(number) or %.17g); cjson would round numbers to 14 digits.

  Cost: every redis.call has a fixed price, so a metric takes HGET, RPUSH, LPOP (once the window is
  full) and HSET of one packed field. Expiry is refreshed only when the last refresh is older than 1%
  of the TTL.
]]
--- @include "chunked"
--- @include "event-ids"
--- @include "token-bucket"
--- @include "window-stats"

local W = tonumber(ARGV[1])
local THRESHOLD = tonumber(ARGV[2])
local MIN_SAMPLES = tonumber(ARGV[3])
local TTL = tonumber(ARGV[4])
local ANOMALY_CAP = tonumber(ARGV[5])
local NOW = tonumber(ARGV[6])
local DEVICE = ARGV[7]
local FULL = ARGV[8] == 'full'
local ID_TTL_MS = tonumber(ARGV[9]) * 1000
local RATE = tonumber(ARGV[10])
local BURST = tonumber(ARGV[11])
local M = tonumber(ARGV[12])
local REFRESH_MS = TTL * 10 -- 1% of the TTL, in ms

local fmt = string.format
local function num(x) return fmt('%.17g', x) end
local LAYOUT = '<' .. string.rep('d', 17)

-- The events, as offsets into ARGV.
local names = {}
for i = 1, M do names[i] = ARGV[12 + i] end
local a = 13 + M
local E = tonumber(ARGV[a]); a = a + 1
local events = {}
for e = 1, E do
  local ev = { ts = ARGV[a], id = ARGV[a + 1], k = tonumber(ARGV[a + 2]), at = a + 3 }
  a = a + 3 + 2 * ev.k
  events[e] = ev
end

local duplicates, fresh_ids = find_duplicates(KEYS[3], events, NOW, ID_TTL_MS)
local applied = E - #duplicates

-- The call takes one token per applied event, or nothing at all.
if RATE > 0 and applied > 0 then
  local wait = take_tokens(KEYS[4], applied, RATE, BURST, NOW)
  if wait then return { 'limited', wait } end
end
remember_ids(KEYS[3], fresh_ids, NOW, ID_TTL_MS)

-- Split the applied events into one run of values per metric, keeping each value's position in the reply.
local runs = {}
for i = 1, M do runs[i] = { values = {}, texts = {}, events = {}, slots = {} } end
local slot = 0
for e = 1, E do
  local ev = events[e]
  if not ev.duplicate then
    for p = 0, ev.k - 1 do
      local run = runs[tonumber(ARGV[ev.at + 2 * p])]
      local text = ARGV[ev.at + 2 * p + 1]
      slot = slot + 1
      local j = #run.values + 1
      run.values[j] = tonumber(text); run.texts[j] = text; run.events[j] = e; run.slots[j] = slot
    end
  end
end

local HEAD = 2 + #duplicates   -- 'ok', D, the duplicate event numbers
local reply = { 'ok', #duplicates }
for i, e in ipairs(duplicates) do reply[2 + i] = e end
local found = {}           -- anomaly JSON records of this call, oldest first
local refresh_device = false

-- The window after appending a run: RPUSH answers the new length, LPOP the values that leave, oldest
-- first. at(idx) reads the sequence old ++ new (the rest of the window is fetched only for a rebuild).
local function append_run(wkey, run)
  local new, count = run.values, #run.values
  local total = call_chunked('RPUSH', wkey, run.texts, 1, count)
  local len = total - count
  local leaving = total > W and redis.call('LPOP', wkey, total - W) or {}
  local rest
  local function at(idx)
    if idx > len then return new[idx - len] end
    if idx <= #leaving then return tonumber(leaving[idx]) end
    if not rest then rest = redis.call('LRANGE', wkey, 0, -1) end
    return tonumber(rest[idx - #leaving])
  end
  return len, at
end

-- One value's z-score against the window before it (window_before(j) gives its values, for a rebuild), and its flag.
local function score(st, x, window_before, j)
  if st.n == 0 then return 0, 0 end
  local mean, var = stats_moments(st)
  if not mean then mean, var = stats_rebuild(st, window_before(j)) end
  local z = 0
  if var == 0 then
    if x ~= mean then z = (x > mean) and math.huge or -math.huge end
  else
    z = (x - mean) / math.sqrt(var)
  end
  if st.n >= MIN_SAMPLES and math.abs(z) > THRESHOLD then return z, 1 end
  return z, 0
end

local function record_value(i, run, j, avg, z, flag)
  local ztext = num(z)
  if FULL then
    local base = HEAD + 3 * (run.slots[j] - 1)
    reply[base + 1] = num(avg); reply[base + 2] = ztext; reply[base + 3] = flag
  end
  if flag == 1 then
    if not FULL then
      local r = #reply
      reply[r + 1] = run.events[j]; reply[r + 2] = i; reply[r + 3] = num(avg); reply[r + 4] = ztext
    end
    local zjson = (z == math.huge or z == -math.huge) and 'null' or ztext
    found[#found + 1] = '{"device_id":"' .. DEVICE .. '","metric":"' .. names[i] .. '","value":' .. run.texts[j] ..
      ',"zscore":' .. zjson .. ',"avg":' .. num(avg) .. ',"timestamp":' .. events[run.events[j]].ts ..
      ',"detected_at":' .. NOW .. '}'
  end
end

local function apply_metric(i)
  local wkey, skey = KEYS[3 + 2 * i], KEYS[4 + 2 * i]
  local run = runs[i]
  local new, count = run.values, #run.values

  local st = { n = 0, k = 0, s1 = 0, s2 = 0, e1 = 0, e2 = 0 }
  local version, w, seen, flagged, refreshed = 0, 0, 0, 0, nil
  local packed = redis.call('HGET', skey, 'state')
  if packed then
    version, st.n, st.k, st.s1, st.s2, st.e1, st.e2, w, seen, flagged, refreshed = struct.unpack(LAYOUT, packed)
    if version ~= 1 then st.n, seen, flagged, refreshed = -1, 0, 0, nil end -- unknown layout: rebuild
  end

  local len, at = append_run(wkey, run)
  -- A window longer than W (WINDOW_SIZE was lowered) loses its oldest values before anything else.
  local skip = len > W and len - W or 0
  local stale = len ~= st.n or w ~= W
  st.n = len - skip

  -- Values in the window before value j: the n values ending at old ++ new[1..j-1].
  local function window_before(j)
    local vals, last = {}, len + j - 1
    for idx = last - st.n + 1, last do vals[#vals + 1] = at(idx) end
    return vals
  end

  if stale and st.n > 0 then stats_rebuild(st, window_before(1)) end
  if st.n == 0 then st.k = new[1]; st.s1, st.s2, st.e1, st.e2 = 0, 0, 0, 0 end

  local left, run_anomalies, avg, z, flag = skip, 0, 0, 0, 0
  for j = 1, count do
    local x = new[j]
    z, flag = score(st, x, window_before, j)
    if st.n == W then
      left = left + 1
      stats_remove(st, at(left))
    end
    stats_add(st, x)
    avg = stats_moments(st)
    if not avg then avg = stats_rebuild(st, window_before(j + 1)) end
    run_anomalies = run_anomalies + flag
    record_value(i, run, j, avg, z, flag)
  end

  -- Expiry: refreshed when older than 1% of the TTL; the index score is that refresh time, so an index
  -- entry and its keys always expire together (score + TTL).
  local refresh = not refreshed or NOW - refreshed > REFRESH_MS
  if refresh then refreshed = NOW end
  redis.call('HSET', skey, 'state', struct.pack(LAYOUT, 1, st.n, st.k, st.s1, st.s2, st.e1, st.e2, W, seen + count,
    flagged + run_anomalies, refreshed, new[count], avg, z, flag, tonumber(events[run.events[count]].ts), NOW))
  if refresh then
    redis.call('EXPIRE', wkey, TTL)
    redis.call('EXPIRE', skey, TTL)
    redis.call('ZADD', KEYS[1], NOW, names[i])
    refresh_device = true
  end
end

for i = 1, M do
  if #runs[i].values > 0 then apply_metric(i) end
end

if #found > 0 then
  call_chunked('LPUSH', KEYS[2], found, 1, #found)
  redis.call('LTRIM', KEYS[2], 0, ANOMALY_CAP - 1)
  redis.call('EXPIRE', KEYS[2], TTL)
end
if refresh_device then
  redis.call('ZREMRANGEBYSCORE', KEYS[1], '-inf', NOW - TTL * 1000)
  redis.call('EXPIRE', KEYS[1], TTL)
end
return reply
