--[[ record: apply a run of events of ONE device to its series and anomaly list, atomically, after its
  rate limit and its idempotency check.
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

  Math: the window holds the raw values; the hash keeps shifted sums s1 = sum(x - k), s2 = sum((x - k)^2)
  for O(1) updates, with running bounds e1, e2 on their rounding error. Whenever a bound is no longer
  small against the variance, the sums are rebuilt exactly from the window (corrected two-pass, as in
  shared/analytics.ts), so results stay within ~1e-10 of an exact recomputation however long the stream.

  State hash: one field "state", 17 little-endian doubles (layout v1, decoded in shared/series-state.ts):
  version, n, k, s1, s2, e1, e2, w, count, anomalies, refreshed, last, avg, z, anomaly, ts, updated.

  Cost: every redis.call has a fixed price, so a metric takes HGET, RPUSH, LPOP (once the window is
  full) and HSET of one packed field. Expiry is refreshed only when the last refresh is older than 1%
  of the TTL.
]]

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

local U = 2 ^ -53     -- unit roundoff of a double
local TAU = 1e-10     -- largest relative error tolerated before an exact rebuild
local abs, sqrt, fmt = math.abs, math.sqrt, string.format

local function num(x) return fmt('%.17g', x) end
local LAYOUT = '<' .. string.rep('d', 17)

-- Duplicates: ids applied within the id ttl, or repeated in this call.
local names = {}
for i = 1, M do names[i] = ARGV[12 + i] end
local a = 13 + M
local E = tonumber(ARGV[a]); a = a + 1
local events, duplicates, fresh_ids, seen_here = {}, {}, {}, {}
for e = 1, E do
  local ev = { ts = ARGV[a], id = ARGV[a + 1], k = tonumber(ARGV[a + 2]), at = a + 3 }
  a = a + 3 + 2 * ev.k
  if ev.id ~= '' then
    local expires = seen_here[ev.id] or tonumber(redis.call('ZSCORE', KEYS[3], ev.id))
    if expires and expires > NOW then
      ev.duplicate = true
      duplicates[#duplicates + 1] = e
    else
      seen_here[ev.id] = NOW + ID_TTL_MS
      fresh_ids[#fresh_ids + 1] = ev.id
    end
  end
  events[e] = ev
end
local applied = E - #duplicates

-- Token bucket: the call takes one token per applied event, or nothing at all.
if RATE > 0 and applied > 0 then
  local bucket = redis.call('HMGET', KEYS[4], 'tokens', 'at')
  local tokens, at = tonumber(bucket[1]) or BURST, tonumber(bucket[2]) or NOW
  tokens = math.min(BURST, tokens + math.max(0, NOW - at) * RATE / 1000)
  if tokens < applied then
    return { 'limited', math.ceil((applied - tokens) * 1000 / RATE) }
  end
  redis.call('HSET', KEYS[4], 'tokens', num(tokens - applied), 'at', NOW)
  redis.call('PEXPIRE', KEYS[4], math.ceil(BURST * 1000 / RATE) + 1000)
end
if #fresh_ids > 0 then
  local zadd = {}
  for i, id in ipairs(fresh_ids) do zadd[2 * i - 1] = NOW + ID_TTL_MS; zadd[2 * i] = id end
  redis.call('ZREMRANGEBYSCORE', KEYS[3], '-inf', NOW)
  redis.call('ZADD', KEYS[3], unpack(zadd))
  redis.call('PEXPIRE', KEYS[3], ID_TTL_MS)
end

-- Split the applied events into one run of values per metric, keeping each value's position in the reply.
local runs = {}
for i = 1, M do runs[i] = { values = {}, texts = {}, events = {}, slots = {} } end
local timestamps = {}
local slot = 0
for e = 1, E do
  local ev = events[e]
  timestamps[e] = ev.ts
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
local REFRESH_MS = TTL * 10 -- 1% of the TTL, in ms

local function apply_metric(i)
  local wkey, skey = KEYS[3 + 2 * i], KEYS[4 + 2 * i]
  local run = runs[i]
  local new = run.values
  local count = #new

  local version, n, k, s1, s2, e1, e2, w, seen, flagged, refreshed = 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, nil
  local packed = redis.call('HGET', skey, 'state')
  if packed then
    version, n, k, s1, s2, e1, e2, w, seen, flagged, refreshed = struct.unpack(LAYOUT, packed)
    if version ~= 1 then n, seen, flagged, refreshed = -1, 0, 0, nil end -- unknown layout: rebuild
  end

  -- Append the run first: RPUSH answers the new length, LPOP the values that leave, oldest first.
  local total
  for from = 1, count, 1000 do
    total = redis.call('RPUSH', wkey, unpack(run.texts, from, math.min(from + 999, count)))
  end
  local len = total - count
  local leaving = total > W and redis.call('LPOP', wkey, total - W) or {}

  -- The sequence old ++ new: leaving values, then what stays (fetched only for an exact rebuild).
  local rest
  local function at(idx)
    if idx > len then return new[idx - len] end
    if idx <= #leaving then return tonumber(leaving[idx]) end
    if not rest then rest = redis.call('LRANGE', wkey, 0, -1) end
    return tonumber(rest[idx - #leaving])
  end

  -- A window longer than W (WINDOW_SIZE was lowered) loses its oldest values before anything else.
  local skip = len > W and len - W or 0
  local stale = len ~= n or w ~= W
  n = len - skip

  -- Values in the window before value j: the n values ending at old ++ new[1..j-1].
  local function window_before(j)
    local vals, last = {}, len + j - 1
    for idx = last - n + 1, last do vals[#vals + 1] = at(idx) end
    return vals
  end

  -- Exact rebuild: corrected two-pass mean and variance; the shift k becomes the mean.
  local function rebuild(vals)
    local cnt = #vals
    s1, s2, e1, e2 = 0, 0, 0, 0
    if cnt == 0 then k = 0; return 0, 0 end
    local lo, hi, sum = vals[1], vals[1], 0
    for t = 1, cnt do
      local v = vals[t]
      sum = sum + v
      if v < lo then lo = v elseif v > hi then hi = v end
    end
    if lo == hi then k = lo; return lo, 0 end
    local rough = sum / cnt
    local c, q = 0, 0
    for t = 1, cnt do
      local d = vals[t] - rough
      c = c + d; q = q + d * d
    end
    local mean = rough + c / cnt
    local var = (q - c * c / cnt) / cnt
    if var < 0 then var = 0 end
    k = mean
    for t = 1, cnt do
      local d = vals[t] - k
      local dd = d * d
      s1 = s1 + d; s2 = s2 + dd
      e1 = e1 + U * (abs(d) + abs(s1)); e2 = e2 + U * (3 * dd + s2)
    end
    return mean, var
  end

  -- Mean and variance from the running sums, or nil when their error bounds are not tight enough.
  local function from_sums()
    local m1 = s1 / n
    local var = s2 / n - m1 * m1
    local err = e2 / n + 2 * abs(m1) * e1 / n + 4 * U * (s2 / n + m1 * m1)
    if err > TAU * var or (e1 > 0 and e1 / n > TAU * sqrt(var)) then return nil end
    return k + m1, var
  end

  if stale and n > 0 then rebuild(window_before(1)) end
  if n == 0 then k = new[1]; s1, s2, e1, e2 = 0, 0, 0, 0 end

  local left = skip
  local run_anomalies = 0
  local avg, z, flag
  for j = 1, count do
    local x = new[j]
    z, flag = 0, 0
    if n > 0 then
      local mean, var = from_sums()
      if not mean then mean, var = rebuild(window_before(j)) end
      if var == 0 then
        if x ~= mean then z = (x > mean) and math.huge or -math.huge end
      else
        z = (x - mean) / sqrt(var)
      end
      if n >= MIN_SAMPLES and abs(z) > THRESHOLD then flag = 1 end
    end

    if n == W then
      left = left + 1
      local d = at(left) - k
      s1 = s1 - d; s2 = s2 - d * d
      e1 = e1 + U * (abs(d) + abs(s1)); e2 = e2 + U * (3 * d * d + abs(s2))
      n = n - 1
    end
    local d = x - k
    local dd = d * d
    s1 = s1 + d; s2 = s2 + dd
    e1 = e1 + U * (abs(d) + abs(s1)); e2 = e2 + U * (3 * dd + abs(s2))
    n = n + 1

    avg = from_sums()
    if not avg then avg = rebuild(window_before(j + 1)) end

    local ztext = num(z)
    if FULL then
      local base = HEAD + 3 * (run.slots[j] - 1)
      reply[base + 1] = num(avg); reply[base + 2] = ztext; reply[base + 3] = flag
    end
    if flag == 1 then
      run_anomalies = run_anomalies + 1
      if not FULL then
        local r = #reply
        reply[r + 1] = run.events[j]; reply[r + 2] = i; reply[r + 3] = num(avg); reply[r + 4] = ztext
      end
      local zjson = (z == math.huge or z == -math.huge) and 'null' or ztext
      found[#found + 1] = '{"device_id":"' .. DEVICE .. '","metric":"' .. names[i] .. '","value":' .. run.texts[j] ..
        ',"zscore":' .. zjson .. ',"avg":' .. num(avg) .. ',"timestamp":' .. timestamps[run.events[j]] ..
        ',"detected_at":' .. NOW .. '}'
    end
  end

  local last = count
  -- Expiry: refreshed when older than 1% of the TTL; the index score is that refresh time, so an index
  -- entry and its keys always expire together (score + TTL).
  local refresh = not refreshed or NOW - refreshed > REFRESH_MS
  if refresh then refreshed = NOW end
  redis.call('HSET', skey, 'state', struct.pack(LAYOUT, 1, n, k, s1, s2, e1, e2, W, seen + count,
    flagged + run_anomalies, refreshed, new[last], avg, z, flag, tonumber(timestamps[run.events[last]]), NOW))
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
  redis.call('LPUSH', KEYS[2], unpack(found))
  redis.call('LTRIM', KEYS[2], 0, ANOMALY_CAP - 1)
  redis.call('EXPIRE', KEYS[2], TTL)
end
if refresh_device then
  redis.call('ZREMRANGEBYSCORE', KEYS[1], '-inf', NOW - TTL * 1000)
  redis.call('EXPIRE', KEYS[1], TTL)
end
return reply
