#!lua
--[[ record: apply runs of events to their devices' series and anomaly lists, atomically per run (and for
  the whole call), each after its device's rate limit and idempotency check. One call carries the runs of
  many devices: its price is paid once, not once per device. Encoded and decoded by
  shared/store/record-script.ts only.

  ARGV[1] window size W   ARGV[2] z threshold   ARGV[3] min samples   ARGV[4] ttl (s)
  ARGV[5] cap of a device's anomaly list   ARGV[6] now (ms)   ARGV[7] reply mode   ARGV[8] id ttl (s)
  ARGV[9] rate limit (events/s, 0 = off)   ARGV[10] burst   ARGV[11] R, the number of runs
  ARGV[12..18] detection: likelihood short span, long span, episode trigger ("flag" or "likelihood"),
  likelihood threshold, score threshold (0 = off), usual values that close an episode, refractory values
  ARGV[19] identical values in a row that are unusual (0 = off)
  ARGV[20] scored values of a series during which the flag is unusual too (trigger "likelihood"; 0 = off)
  ARGV[21] entries kept in a device's outbox stream (0 = no outbox: no sink is configured)
  then per run: device id, M, M metric names, E, then per event: timestamp (ms), id ("" for none), k,
  then k pairs (metric number 1..M, value as text).
  KEYS, per run in the same order: series index of the device (zset: metric -> time its keys' expiry was
  last refreshed, ms), recent anomalies of the device (list of JSON, newest first), event ids seen (zset:
  id -> expiry, ms), rate-limit bucket (hash: tokens, at), the device's recent episodes (list of
  episode ids, newest opening first) and their records (hash: episode id -> JSON), the device's
  outbox (stream, consumer group "dispatch"), then per metric: window list, state hash.
  Two runs may name the same device: they apply one after the other, as two calls would.
  The #!lua line (no flags) makes Redis refuse the whole call before it runs when it is at maxmemory
  with noeviction (OOM), rather than at its first write: a refused call has written nothing.

  Returns one reply per run, in order:
  {"limited", retry after (ms)} when the bucket cannot take the run's new events (nothing written);
  {"error", message} when a command failed (the run stops there; later runs still apply);
  else {"ok", D, the D duplicate event numbers, then per applied value in input order: reply mode "full"
     -> avg, z, anomaly (0/1), score, likelihood, episode step (0 none, 1 opened, 2 open, 3 closed);
     mode "anomalies" -> only anomalous values: event number, metric number, avg, z; then per episode
     opened or closed, in order: step (1 or 3), event number, metric number, its record, its id
     ("<start ms>/<metric>"), then X, their number; then the numbers of the F metrics whose expiry
     was refreshed (at `now`), and last F}.
  avg, z, score and likelihood are "%.17g" text; z is "inf" or "-inf" when the baseline has zero variance.
  An event whose id was applied within the id ttl (or earlier in this run) is a duplicate: not applied.

  State hash: one field "state", 37 little-endian doubles (layout v3, decoded in shared/store/series-state.ts):
  version, n, k, s1, s2, e1, e2, w, count, anomalies, refreshed, last, avg, z, anomaly, ts, updated,
  score, likelihood, then the detection state (includes/detection.lua): sh, mu, v, lc, ep, start, calm,
  cool, episodes, last_unusual, peak, peak_value, peak_at, open_value, open_score, open_likelihood,
  opened_at, same. A v2 state (the same fields, its likelihood over another measure) is read with
  sh, mu, v and lc at 0; a v1 state (the first 17) with an empty detection state.

  Episode records (device list, and the global one through the tally) are JSON, times in ms: device_id,
  metric, start, end (null while open), value, score, likelihood (of the opening value), detected_at,
  and once closed peak_score, peak_value, peak_at, closed_at. A closing overwrites its opening record
  (one HSET: no search), unless the record has been trimmed away since.

  Outbox: with ARGV[21] > 0, every episode opened or closed is also appended to the device's outbox
  stream, in the same atomic call as the state it reports, so that an event to deliver cannot be lost
  between the two (shared/outbox/dispatcher.ts delivers it). Fields: step (1 opened, 3 closed), id, record,
  z and avg of the value that opened or closed it. The group is made with the stream, from its start.

  Anomaly records (device list) are JSON with times in ms, the format the tally writes to the global list.
  They are built by concatenation, which is safe: the device id and metric names passed the event schema
  (characters [A-Za-z0-9_.:-] and [a-z0-9_], nothing JSON must escape), and values, avg and z are
  number texts (JavaScript's String(number) or %.17g); cjson would round numbers to 14 digits.

  Cost: every redis.call has a fixed price, so a metric takes HGET, RPUSH, LPOP (once the window is
  full) and HSET of one packed field. Expiry is refreshed only when the last refresh is older than 1%
  of the TTL. The functions below are made once per call, not once per run or value.
]]
--- @include "chunked"
--- @include "event-ids"
--- @include "token-bucket"
--- @include "window-stats"
--- @include "detection"

local W = tonumber(ARGV[1])
local THRESHOLD = tonumber(ARGV[2])
local MIN_SAMPLES = tonumber(ARGV[3])
local TTL = tonumber(ARGV[4])
local ANOMALY_CAP = tonumber(ARGV[5])
local NOW = tonumber(ARGV[6])
local FULL = ARGV[7] == 'full'
local ID_TTL_MS = tonumber(ARGV[8]) * 1000
local RATE = tonumber(ARGV[9])
local BURST = tonumber(ARGV[10])
local RUNS = tonumber(ARGV[11])
local OUTBOX_CAP = tonumber(ARGV[21])
local P = {
  short_rate = 2 / (tonumber(ARGV[12]) + 1), long_rate = 2 / (tonumber(ARGV[13]) + 1),
  warmup = 0.1 * tonumber(ARGV[13]), trigger_flag = ARGV[14] == 'flag',
  close_after = tonumber(ARGV[17]), refractory = tonumber(ARGV[18]), flatline = tonumber(ARGV[19]),
  warm_until = tonumber(ARGV[3]) + tonumber(ARGV[20]),
}
P.lik_x2, P.lik_half, P.score_z = thresholds_of(tonumber(ARGV[15]), tonumber(ARGV[16]))
local KEYS_PER_RUN = 7
local REFRESH_MS = TTL * 10 -- 1% of the TTL, in ms

local fmt, abs, sqrt, HUGE = string.format, math.abs, math.sqrt, math.huge
local function num(x) return fmt('%.17g', x) end
local LAYOUT_V1 = '<' .. string.rep('d', 17)
local LAYOUT = '<' .. string.rep('d', 37)


-- One run as offsets into ARGV and KEYS; returns it and where the next run starts.
local function parse_run(a, k)
  local run = { device = ARGV[a], names = {}, events = {}, keys = k }
  local M = tonumber(ARGV[a + 1])
  for i = 1, M do run.names[i] = ARGV[a + 1 + i] end
  a = a + 2 + M
  local E = tonumber(ARGV[a]); a = a + 1
  for e = 1, E do
    local ev = { ts = ARGV[a], id = ARGV[a + 1], k = tonumber(ARGV[a + 2]), at = a + 3 }
    a = a + 3 + 2 * ev.k
    run.events[e] = ev
  end
  return run, a, k + KEYS_PER_RUN + 2 * M
end

-- The window after appending a run: RPUSH answers the new length, LPOP the values that leave, oldest
-- first. at(idx) reads the sequence old ++ new (the rest of the window is fetched only for a rebuild).
local function append_values(wkey, values)
  local new, count = values.values, #values.values
  local total = call_chunked('RPUSH', wkey, values.texts, 1, count)
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

-- Writes value j's results into the reply (mode full) and, when flagged, its anomaly record. d and
-- var: the likelihood's, from detect.
local function record_value(run, i, values, j, avg, z, flag, scored, d, var, step)
  local reply = run.reply
  if FULL then
    local base = run.head + 6 * (values.slots[j] - 1)
    reply[base + 1] = num(avg); reply[base + 2] = num(z); reply[base + 3] = flag
    reply[base + 4] = num(score_of(z, scored)); reply[base + 5] = num(likelihood_of(d, var)); reply[base + 6] = step
  end
  if flag == 1 then
    local ztext = num(z)
    if not FULL then
      local r = #reply
      reply[r + 1] = values.events[j]; reply[r + 2] = i; reply[r + 3] = num(avg); reply[r + 4] = ztext
    end
    local zjson = (z == HUGE or z == -HUGE) and 'null' or ztext
    run.found[#run.found + 1] = '{"device_id":"' .. run.device .. '","metric":"' .. run.names[i] .. '","value":' ..
      values.texts[j] .. ',"zscore":' .. zjson .. ',"avg":' .. num(avg) .. ',"timestamp":' ..
      run.events[values.events[j]].ts .. ',"detected_at":' .. NOW .. '}'
  end
end

-- The packed state of a series, or an empty one (n = -1 forces a rebuild of a layout it cannot read).
-- st.f is the whole layout as an array, which the detection updates in place (includes/detection.lua).
local function read_state(skey)
  local st = { n = 0, k = 0, s1 = 0, s2 = 0, e1 = 0, e2 = 0, w = 0, seen = 0, flagged = 0 }
  local packed = redis.call('HGET', skey, 'state')
  if packed and #packed == 37 * 8 then
    local f = { struct.unpack(LAYOUT, packed) }
    if f[1] == 3 or f[1] == 2 then
      st.n, st.k, st.s1, st.s2, st.e1, st.e2, st.w, st.seen, st.flagged, st.refreshed = f[2], f[3], f[4], f[5], f[6], f[7], f[8], f[9], f[10], f[11]
      st.f, st.last = f, f[12]
      -- v2 averaged another measure: its likelihood learns again (sh, mu, v, lc), the rest carries on
      if f[1] == 2 then f[20], f[21], f[22], f[23] = 0, 0, 0, 0 end
      return st
    end
  end
  st.f = { 3, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0 }
  if packed and #packed == 17 * 8 then
    local version
    version, st.n, st.k, st.s1, st.s2, st.e1, st.e2, st.w, st.seen, st.flagged, st.refreshed, st.last = struct.unpack(LAYOUT_V1, packed)
    if version ~= 1 then st.n, st.seen, st.flagged, st.refreshed, st.last = -1, 0, 0, nil, nil end
  elseif packed then
    st.n = -1
  end
  return st
end

local function write_state(skey, st, refreshed, last, avg, z, flag, ts, score, likelihood)
  local f = st.f
  f[1], f[2], f[3], f[4], f[5], f[6], f[7], f[8], f[9], f[10] = 3, st.n, st.k, st.s1, st.s2, st.e1, st.e2, W, st.seen, st.flagged
  f[11], f[12], f[13], f[14], f[15], f[16], f[17], f[18], f[19] = refreshed, last, avg, z, flag, ts, NOW, score, likelihood
  redis.call('HSET', skey, 'state', struct.pack(LAYOUT, unpack(f, 1, 37)))
end

-- The record of an episode: as it was opened, or as it closed.
local function episode_record(run, i, dt, closed)
  local head = '{"device_id":"' .. run.device .. '","metric":"' .. run.names[i] .. '","start":' .. num(dt[START]) .. ',"end":'
  local tail = ',"value":' .. num(dt[OPEN_VALUE]) .. ',"score":' .. num(dt[OPEN_SCORE]) .. ',"likelihood":' ..
    num(dt[OPEN_LIKELIHOOD]) .. ',"detected_at":' .. num(dt[OPENED_AT])
  if not closed then return head .. 'null' .. tail .. '}' end
  return head .. num(dt[LAST_UNUSUAL]) .. tail .. ',"peak_score":' .. num(dt[PEAK]) .. ',"peak_value":' .. num(dt[PEAK_VALUE]) ..
    ',"peak_at":' .. num(dt[PEAK_AT]) .. ',"closed_at":' .. NOW .. '}'
end

-- An episode opened (step 1) or closed (step 3) by value j: its record and id, for the device and the
-- reply, and the z and rolling average of that value, for the outbox.
local function note_episode(run, i, values, j, dt, step, z, avg)
  run.episodes[#run.episodes + 1] = {
    step = step, event = values.events[j], metric = i, record = episode_record(run, i, dt, step == 3),
    id = num(dt[START]) .. '/' .. run.names[i], z = num(z), avg = num(avg),
  }
end

-- Appends a run's episodes to the device's outbox, in order; the consumer group is made with the stream.
local function to_outbox(run, outbox)
  if redis.call('EXISTS', outbox) == 0 then redis.call('XGROUP', 'CREATE', outbox, 'dispatch', '0', 'MKSTREAM') end
  for _, e in ipairs(run.episodes) do
    redis.call('XADD', outbox, 'MAXLEN', '~', OUTBOX_CAP, '*', 'step', e.step, 'id', e.id, 'record', e.record, 'z', e.z, 'avg', e.avg)
  end
  redis.call('EXPIRE', outbox, TTL)
end

-- Stores a run's episodes in order: an opening adds its id (the oldest beyond the cap leaves, with
-- its record); a closing overwrites the record if it is still kept.
local function store_episodes(run, ids, records)
  for _, e in ipairs(run.episodes) do
    if e.step == 1 then
      if redis.call('LPUSH', ids, e.id) > ANOMALY_CAP then redis.call('HDEL', records, redis.call('RPOP', ids)) end
      redis.call('HSET', records, e.id, e.record)
    elseif redis.call('HEXISTS', records, e.id) == 1 then
      redis.call('HSET', records, e.id, e.record)
    end
  end
  redis.call('EXPIRE', ids, TTL)
  redis.call('EXPIRE', records, TTL)
end

local function apply_metric(run, i)
  local wkey, skey = KEYS[run.keys + 5 + 2 * i], KEYS[run.keys + 6 + 2 * i]
  local values = run.values[i]
  local new, count = values.values, #values.values

  local st = read_state(skey)
  local len, at = append_values(wkey, values)
  -- A window longer than W (WINDOW_SIZE was lowered) loses its oldest values before anything else.
  local skip = len > W and len - W or 0
  local stale = len ~= st.n or st.w ~= W
  st.n = len - skip

  -- Values in the window before value j: the n values ending at old ++ new[1..j-1].
  local function window_before(j)
    local vals, last = {}, len + j - 1
    for idx = last - st.n + 1, last do vals[#vals + 1] = at(idx) end
    return vals
  end

  if stale and st.n > 0 then stats_rebuild(st, window_before(1)) end
  if st.n == 0 then st.k = new[1]; st.s1, st.s2, st.e1, st.e2 = 0, 0, 0, 0 end

  -- The per-value loop: each value is scored against the window before it, then enters it (the oldest
  -- leaving once the window is full). The sums live in locals here; the table st is written back
  -- around a rebuild (rare) and at the end.
  local n, k, s1, s2, e1, e2 = st.n, st.k, st.s1, st.s2, st.e1, st.e2
  local left, flagged, avg, z, flag, scored, ld, lv = skip, 0, 0, 0, 0, false, nil, nil
  local dt, prev = st.f, st.last
  for j = 1, count do
    local x = new[j]
    scored = n >= MIN_SAMPLES
    z, flag = 0, 0
    if n > 0 then
      local mean, var = moments_of(n, k, s1, s2, e1, e2)
      if not mean then
        st.n, st.k, st.s1, st.s2, st.e1, st.e2 = n, k, s1, s2, e1, e2
        mean, var = stats_rebuild(st, window_before(j))
        k, s1, s2, e1, e2 = st.k, st.s1, st.s2, st.e1, st.e2
      end
      if var == 0 then
        if x ~= mean then z = (x > mean) and HUGE or -HUGE end
      else
        z = (x - mean) / sqrt(var)
      end
      if scored and abs(z) > THRESHOLD then flag = 1 end
    end
    local step
    step, ld, lv = detect(dt, z, scored, flag, x, prev, n, st.seen + j - 1, run.events[values.events[j]].ts, NOW, P)
    prev = x
    if n == W then
      left = left + 1
      local d = at(left) - k
      s1, s2 = s1 - d, s2 - d * d
      e1 = e1 + U * (abs(d) + abs(s1)); e2 = e2 + U * (3 * d * d + abs(s2))
      n = n - 1
    end
    local d = x - k
    local dd = d * d
    s1, s2 = s1 + d, s2 + dd
    e1 = e1 + U * (abs(d) + abs(s1)); e2 = e2 + U * (3 * dd + abs(s2))
    n = n + 1
    avg = moments_of(n, k, s1, s2, e1, e2)
    if not avg then
      st.n, st.k, st.s1, st.s2, st.e1, st.e2 = n, k, s1, s2, e1, e2
      avg = stats_rebuild(st, window_before(j + 1))
      k, s1, s2, e1, e2 = st.k, st.s1, st.s2, st.e1, st.e2
    end
    if step == 1 or step == 3 then note_episode(run, i, values, j, dt, step, z, avg) end
    flagged = flagged + flag
    if FULL or flag == 1 then record_value(run, i, values, j, avg, z, flag, scored, ld, lv, step) end
  end
  st.n, st.k, st.s1, st.s2, st.e1, st.e2 = n, k, s1, s2, e1, e2

  -- Expiry: refreshed when older than 1% of the TTL; the index score is that refresh time, so an index
  -- entry and its keys always expire together (score + TTL).
  local refresh = not st.refreshed or NOW - st.refreshed > REFRESH_MS
  local refreshed = refresh and NOW or st.refreshed
  st.seen, st.flagged = st.seen + count, st.flagged + flagged
  write_state(skey, st, refreshed, new[count], avg, z, flag, tonumber(run.events[values.events[count]].ts), score_of(z, scored), likelihood_of(ld, lv))
  if refresh then
    redis.call('EXPIRE', wkey, TTL)
    redis.call('EXPIRE', skey, TTL)
    redis.call('ZADD', KEYS[run.keys], NOW, run.names[i])
    run.refreshed[#run.refreshed + 1] = i
  end
end

-- Splits the applied events of a run into one list of values per metric, keeping each value's
-- position in the reply.
local function split_by_metric(run)
  run.values = {}
  for i = 1, #run.names do run.values[i] = { values = {}, texts = {}, events = {}, slots = {} } end
  local slot = 0
  for e = 1, #run.events do
    local ev = run.events[e]
    if not ev.duplicate then
      for p = 0, ev.k - 1 do
        local values = run.values[tonumber(ARGV[ev.at + 2 * p])]
        local text = ARGV[ev.at + 2 * p + 1]
        slot = slot + 1
        local j = #values.values + 1
        values.values[j] = tonumber(text); values.texts[j] = text; values.events[j] = e; values.slots[j] = slot
      end
    end
  end
end

local function apply_run(run)
  local k = run.keys
  local duplicates, fresh_ids = find_duplicates(KEYS[k + 2], run.events, NOW, ID_TTL_MS)
  -- The run takes one token per applied event, or nothing at all.
  if RATE > 0 and #run.events > #duplicates then
    local wait = take_tokens(KEYS[k + 3], #run.events - #duplicates, RATE, BURST, NOW)
    if wait then return { 'limited', wait } end
  end
  remember_ids(KEYS[k + 2], fresh_ids, NOW, ID_TTL_MS)

  run.reply = { 'ok', #duplicates }
  for i, e in ipairs(duplicates) do run.reply[2 + i] = e end
  run.head, run.found, run.refreshed, run.episodes = 2 + #duplicates, {}, {}, {}
  split_by_metric(run)
  for i = 1, #run.names do
    if #run.values[i].values > 0 then apply_metric(run, i) end
  end

  if #run.found > 0 then
    call_chunked('LPUSH', KEYS[k + 1], run.found, 1, #run.found)
    redis.call('LTRIM', KEYS[k + 1], 0, ANOMALY_CAP - 1)
    redis.call('EXPIRE', KEYS[k + 1], TTL)
  end
  if #run.refreshed > 0 then
    redis.call('ZREMRANGEBYSCORE', KEYS[k], '-inf', NOW - TTL * 1000)
    redis.call('EXPIRE', KEYS[k], TTL)
  end
  local reply = run.reply
  if #run.episodes > 0 then
    store_episodes(run, KEYS[k + 4], KEYS[k + 5])
    if OUTBOX_CAP > 0 then to_outbox(run, KEYS[k + 6]) end
  end
  for _, e in ipairs(run.episodes) do
    local r = #reply
    reply[r + 1] = e.step; reply[r + 2] = e.event; reply[r + 3] = e.metric; reply[r + 4] = e.record; reply[r + 5] = e.id
  end
  reply[#reply + 1] = #run.episodes
  -- Last: the refreshed metric numbers, then their count.
  for _, i in ipairs(run.refreshed) do reply[#reply + 1] = i end
  reply[#reply + 1] = #run.refreshed
  return reply
end

local replies, a, k = {}, 22, 1
for r = 1, RUNS do
  local run
  run, a, k = parse_run(a, k)
  local ok, result = pcall(apply_run, run)
  if not ok then result = { 'error', type(result) == 'table' and result.err or tostring(result) } end
  replies[r] = result
end
return replies
