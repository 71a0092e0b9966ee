#!lua
--[[ record: apply runs of events to their devices' series and anomaly lists, atomically per run (and for
  the whole call), each after its device's rate limit and idempotency check. One call carries the runs of
  many devices: its price is paid once, not once per device. Encoded and decoded by
  shared/store/record-script.ts only.

  ARGV[1] window size W   ARGV[2] z threshold   ARGV[3] min samples   ARGV[4] ttl (s)
  ARGV[5] cap of a device's anomaly list   ARGV[6] now (ms)   ARGV[7] reply mode   ARGV[8] id ttl (s)
  ARGV[9] rate limit (events/s, 0 = off)   ARGV[10] burst   ARGV[11] R, the number of runs
  ARGV[12..18] detection: likelihood short span, long span, episode trigger ("baseline", "flag" or
  "likelihood"), likelihood threshold, score threshold (0 = off), usual values that close an episode,
  refractory values (triggers "flag" and "likelihood")
  ARGV[19] identical values in a row that are unusual (0 = off)
  ARGV[20] scored values of a series during which the flag is unusual too (trigger "likelihood"; 0 = off)
  ARGV[21] entries kept in a device's outbox stream (0 = no outbox: no sink is configured)
  ARGV[22..30] trigger "baseline" (includes/baseline.lua): long span, short span, spike z, level z,
  refractory values, warm-up values, hour-of-day span, flatline run, flatline share
  then per run: device id, M, M metric names, E, then per event: timestamp (ms), id ("" for none), k,
  then k pairs (metric number 1..M, value as text).
  KEYS, per run in the same order: series index of the device (zset: metric -> time its keys' expiry was
  last refreshed, ms), recent anomalies of the device (list of JSON, newest first), event ids seen (zset:
  id -> expiry, ms), rate-limit bucket (hash: tokens, at), the device's recent episodes (list of
  episode ids, newest opening first) and their records (hash: episode id -> packed record), with an
  outbox (ARGV[21] > 0) the device's outbox (stream, consumer group "dispatch"), then per metric:
  window list, state hash; and last, after every run's keys, the totals hash that the call's applied
  events, values, flagged values and episodes opened are added to (includes/totals.lua): the global
  one on a single Redis, on Redis Cluster the totals shard of the slot all the call's devices share.
  Two runs may name the same device: they apply one after the other, as two calls would.
  The #!lua line (no flags) makes Redis refuse the whole call before it runs when it is at maxmemory
  with noeviction (OOM), rather than at its first write: a refused call has written nothing.

  Returns one reply per run, in order:
  {"limited", retry after (ms)} when the bucket cannot take the run's new events (nothing written);
  {"error", message} when a command failed (the run stops there; later runs still apply);
  else {"ok", D, the D duplicate event numbers, then the values: reply mode "full" -> one string, per
     applied value in input order 33 bytes packed little-endian (struct "<ddddB"): avg, z, the likelihood's
     d and variance (0, 0 while it learns), then bits: 1 anomaly, 2 scored (baseline of MIN_SAMPLES),
     4 * the episode step (0 none, 1 opened, 2 open, 3 closed) -- the score and likelihood are computed
     from these by the caller (shared/store/record-script.ts), where the special functions cost no
     Redis time; mode "anomalies" -> only anomalous values: event number, metric number, avg, z; then per
     episode the run opened or closed (or both), in order of its first step: the number of the event
     that opened it (0: opened before this run), of the event that closed it (0: still open), metric
     number, its record as the run leaves it, its id ("<start ms>/<metric>"); then X, their number;
     then the numbers of the F metrics whose expiry was refreshed (at `now`), and last F}.
  In mode "anomalies", avg and z are "%.17g" text; z is "inf" or "-inf" when the baseline has zero variance.
  An event whose id was applied within the id ttl (or earlier in this run) is a duplicate: not applied.

  State hash: field "state", one layout (v6), little-endian doubles (decoded in
  shared/store/series-state.ts): version, n, k, s1, s2, e1, e2, w, count, anomalies, refreshed, last,
  then the detection's state sh, mu, v, lc, same, ep, cool, episodes (the first 20: what a call reads
  back), then the last value's results, for reads: avg, z, bits (1 anomaly, 2 scored), ts, updated, and
  the likelihood's d and variance (0, 0 while it learns); then the baseline method's 12
  (includes/baseline.lua: n, all, mean, variance, short, cool, previous, same, repeats, and the pending
  hour, its mean and count; n = 0 and hour -1 under the other triggers: it starts again when it is
  the trigger again): 39 doubles; while an episode is open, its 10 fields follow, unpacked only when a
  value meets it: start, calm, last_unusual, peak, peak_value, peak_at, open_value, open_score,
  open_likelihood, opened_at (49 doubles). Field "hours": the baseline method's other hours (240 bytes,
  includes/baseline.lua), written only when a value meets another hour than the pending one.
  A state of another layout (a store written by an earlier version, not rewritten by `npm run
  migrate`) is not read: the series' sums are rebuilt from its window, the rest starts again.

  Episode records (device list, and the global one through the tally) are 10 little-endian doubles,
  times in ms (decoded in shared/store/episode-record.ts): start, end (its last unusual value), value,
  score, likelihood (of the opening value), detected_at, peak_score, peak_value, peak_at, closed_at (0
  while open; end and the peak are then not final). The device and metric are in the keys and ids.
  The outbox carries them as JSON: device_id, metric, start, end (null while open), value, score,
  likelihood, detected_at, and once closed peak_score, peak_value, peak_at, closed_at.
  A run stores each episode's record once, as it leaves it: an episode opened and closed by the same
  run is stored closed; a closing of an episode opened earlier overwrites its record (no search),
  unless the record has been trimmed away.
  The device's episode list and records expire with its series: their expiry is set when the list is
  made and whenever the run refreshes the expiry of a series.

  Outbox: with ARGV[21] > 0, every episode opened or closed is also appended to the device's outbox
  stream, in the same atomic call as the state it reports, so that an event to deliver cannot be lost
  between the two (shared/outbox/dispatcher.ts delivers it). Fields: step (1 opened, 3 closed), id, the
  record as that step left it, z and avg of the value that opened or closed it. The group is made
  with the stream, from its start.

  Anomaly records (device list) are JSON with times in ms, the format the tally writes to the global list.
  They are built by concatenation, which is safe: the device id and metric names passed the event schema
  (characters [A-Za-z0-9_.:-] and [a-z0-9_], nothing JSON must escape), and values, avg and z are
  number texts (JavaScript's String(number) or %.17g); cjson would round numbers to 14 digits.

  Cost: every redis.call has a fixed price, so a metric takes HGET, RPUSH, LPOP (once the window is
  full) and HSET of one packed field. Expiry is refreshed only when the last refresh is older than 1%
  of the TTL. The functions below are made once per call, not once per run or value.
]]
--- @include "chunked"
--- @include "episode-list"
--- @include "event-ids"
--- @include "token-bucket"
--- @include "window-stats"
--- @include "detection"
--- @include "baseline"
--- @include "totals"

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
-- The detection's parameters, as locals of the per-value loop (includes/detection.lua describes them);
-- P holds the two the episode step reads.
local SHORT_RATE, LONG_RATE = 2 / (tonumber(ARGV[12]) + 1), 2 / (tonumber(ARGV[13]) + 1)
local WARMUP, TRIGGER_FLAG = 0.1 * tonumber(ARGV[13]), ARGV[14] == 'flag'
local LIK_X2, LIK_HALF, SCORE_Z = thresholds_of(tonumber(ARGV[15]), tonumber(ARGV[16]))
local FLATLINE, WARM_UNTIL = tonumber(ARGV[19]), tonumber(ARGV[3]) + tonumber(ARGV[20])
local TRIGGER_BASELINE = ARGV[14] == 'baseline'
-- Trigger "baseline": its refractory period (in includes/baseline.lua) replaces the episode's.
local P = { close_after = tonumber(ARGV[17]), refractory = TRIGGER_BASELINE and 0 or tonumber(ARGV[18]) }
baseline_setup(tonumber(ARGV[22]), tonumber(ARGV[23]), tonumber(ARGV[24]), tonumber(ARGV[25]), tonumber(ARGV[26]),
  tonumber(ARGV[27]), tonumber(ARGV[28]), tonumber(ARGV[29]), tonumber(ARGV[30]))
-- The outbox key is sent only with an outbox: a key that cannot be touched costs its caller to send.
local KEYS_PER_RUN = OUTBOX_CAP > 0 and 7 or 6
local REFRESH_MS = TTL * 10 -- 1% of the TTL, in ms

local fmt, abs, sqrt, HUGE = string.format, math.abs, math.sqrt, math.huge
local function num(x) return fmt('%.17g', x) end
local spack, VALUE_LAYOUT = struct.pack, '<ddddB'
-- The state's layout (see the header): its first 20 doubles are read back (HOT), the baseline method's
-- 12 (BASELINE, from BASELINE_AT) by trigger "baseline", the episode's 10 (EPISODE, from STATE_SIZE) only
-- when a value needs them; it is written whole (STATE, then EPISODE while an episode is open).
local LAYOUT, STATE, STATE_SIZE = 6, '<' .. string.rep('d', 39), 39 * 8
local HOT, BASELINE, BASELINE_AT = '<' .. string.rep('d', 20), '<' .. string.rep('d', 12), 27 * 8 + 1
local EPISODE = '<' .. string.rep('d', 10)


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

-- The anomaly record of flagged value j and, in mode "anomalies", its reply entry.
local function record_flagged(run, i, values, j, avg, z)
  local ztext, avgtext = num(z), num(avg)
  if not FULL then
    local reply = run.reply
    local r = #reply
    reply[r + 1] = values.events[j]; reply[r + 2] = i; reply[r + 3] = avgtext; reply[r + 4] = ztext
  end
  local zjson = (z == HUGE or z == -HUGE) and 'null' or ztext
  run.found[#run.found + 1] = '{"device_id":"' .. run.device .. '","metric":"' .. run.names[i] .. '","value":' ..
    values.texts[j] .. ',"zscore":' .. zjson .. ',"avg":' .. avgtext .. ',"timestamp":' ..
    run.events[values.events[j]].ts .. ',"detected_at":' .. NOW .. '}'
end

-- The state of a series as 19 values: n, k, s1, s2, e1, e2, w, seen, flagged, refreshed, last, sh, mu, v,
-- lc, same, ep, cool, episodes; then the packed state, to unpack the rest from if a value needs it
-- (episode_of, baseline_of); or an empty state (n = -1 forces a rebuild of a layout it does not read).
local function read_state(skey)
  local packed = redis.call('HGET', skey, 'state')
  if not packed then return 0, 0, 0, 0, 0, 0, 0, 0, 0, nil, nil, 0, 0, 0, 0, 0, 0, 0, 0, nil end
  local size = #packed
  if (size == STATE_SIZE or size == STATE_SIZE + 80) and struct.unpack('<d', packed) == LAYOUT then
    local _, n, k, s1, s2, e1, e2, w, seen, flagged, refreshed, last, sh, mu, v, lc, same, ep, cool, episodes = struct.unpack(HOT, packed)
    return n, k, s1, s2, e1, e2, w, seen, flagged, refreshed, last, sh, mu, v, lc, same, ep, cool, episodes, packed
  end
  return -1, 0, 0, 0, 0, 0, 0, 0, 0, nil, nil, 0, 0, 0, 0, 0, 0, 0, 0, packed
end

-- The episode's fields from a state read by read_state: kept after the rest while an episode is open.
local function episode_of(packed)
  if packed and #packed == STATE_SIZE + 80 then return { struct.unpack(EPISODE, packed, STATE_SIZE + 1) } end
  return { 0, 0, 0, 0, 0, 0, 0, 0, 0, 0 }
end

-- The baseline method's 12 numbers from a state read by read_state (includes/baseline.lua), then nil; or,
-- when the method starts (a new series, another layout, or n = 0: another trigger wrote it), an empty
-- state and its empty hours.
local function baseline_of(packed, n)
  if n >= 0 and packed then
    local b_n, all, mean, var, short, cool, prev, same, rep, ph, pm, pc = struct.unpack(BASELINE, packed, BASELINE_AT)
    if b_n > 0 then return b_n, all, mean, var, short, cool, prev, same, rep, ph, pm, pc, nil end
  end
  return 0, 0, 0, 0, 0, 0, 0, 0, 0, -1, 0, 0, HOURS_NONE
end

-- The record of an episode as the outbox carries it (JSON): as it was opened, or as it closed. Times are
-- whole ms below 10^14 (the event schema's), which Lua's own number-to-text conversion (%.14g) writes
-- exactly and cheaper than num.
local function episode_record(run, i, dt, closed)
  local head = '{"device_id":"' .. run.device .. '","metric":"' .. run.names[i] .. '","start":' .. dt[START] .. ',"end":'
  local tail = ',"value":' .. num(dt[OPEN_VALUE]) .. ',"score":' .. num(dt[OPEN_SCORE]) .. ',"likelihood":' ..
    num(dt[OPEN_LIKELIHOOD]) .. ',"detected_at":' .. dt[OPENED_AT]
  if not closed then return head .. 'null' .. tail .. '}' end
  return head .. dt[LAST_UNUSUAL] .. tail .. ',"peak_score":' .. num(dt[PEAK]) .. ',"peak_value":' .. num(dt[PEAK_VALUE]) ..
    ',"peak_at":' .. dt[PEAK_AT] .. ',"closed_at":' .. NOW .. '}'
end

-- The stored record of an episode, as it was opened or as it closed (see the header): one struct.pack,
-- where JSON text costs a %.17g conversion per number.
local RECORD = '<' .. string.rep('d', 10)
local function episode_packed(dt, closed)
  return spack(RECORD, dt[START], dt[LAST_UNUSUAL], dt[OPEN_VALUE], dt[OPEN_SCORE], dt[OPEN_LIKELIHOOD], dt[OPENED_AT],
    dt[PEAK], dt[PEAK_VALUE], dt[PEAK_AT], closed and NOW or 0)
end

-- An episode opened (step 1) or closed (step 3) by value j. Each episode has one entry per run
-- (opened, closed: event numbers, false and 0 for none; as includes/episode-list.lua takes them), whose record is built once, as the run leaves it: at its
-- closing, or by the caller once the metric's values are done. open: the entry of the episode this run
-- opened and has not closed yet, if any; returns the new one. With an outbox, every step is also
-- queued for it with its own record and the z and rolling average of its value.
local function note_episode(run, i, values, j, dt, step, z, avg, open)
  local e = open
  if step == 1 or not e then
    e = { opened = false, closed = 0, metric = i, id = dt[START] .. '/' .. run.names[i] }
    run.episodes[#run.episodes + 1] = e
  end
  if step == 1 then e.opened = values.events[j] else e.closed, e.record = values.events[j], episode_packed(dt, true) end
  if OUTBOX_CAP > 0 then
    run.outbox[#run.outbox + 1] = { step, e.id, episode_record(run, i, dt, step == 3), num(z), num(avg) }
  end
  return step == 1 and e or nil
end

-- Appends a run's episode steps to the device's outbox, in order; the consumer group is made with the stream.
local function to_outbox(run, outbox)
  if redis.call('EXISTS', outbox) == 0 then redis.call('XGROUP', 'CREATE', outbox, 'dispatch', '0', 'MKSTREAM') end
  for _, o in ipairs(run.outbox) do
    redis.call('XADD', outbox, 'MAXLEN', '~', OUTBOX_CAP, '*', 'step', o[1], 'id', o[2], 'record', o[3], 'z', o[4], 'avg', o[5])
  end
  redis.call('EXPIRE', outbox, TTL)
end

-- The values of the window ending at position last of old ++ new, n of them, for an exact rebuild.
local function window_values(at, last, n)
  local vals = {}
  for idx = last - n + 1, last do vals[#vals + 1] = at(idx) end
  return vals
end

local function apply_metric(run, i)
  local wkey, skey = KEYS[run.keys + KEYS_PER_RUN + 2 * i - 2], KEYS[run.keys + KEYS_PER_RUN + 2 * i - 1]
  local values = run.values[i]
  local new, count = values.values, #values.values

  local n, k, s1, s2, e1, e2, w, seen, flagged0, refreshed, prev, sh, mu, v, lc, same, ep, cool, episodes, stored = read_state(skey)
  local dt
  -- Trigger "baseline": its 12 numbers in locals for the loop; its hours' block (b_hours) read when a value
  -- meets another hour than the pending one, and written back if that moved the pending hour's numbers.
  -- Under the other triggers they stay empty (n = 0, no pending hour), and "hours" is left alone.
  local b_n, b_all, b_mean, b_var, b_short, b_cool, b_prev, b_same, b_rep, b_ph, b_pm, b_pc, b_hours, b_moved = 0, 0, 0, 0, 0, 0, 0, 0, 0, -1, 0, 0
  local b_ts, b_h
  if TRIGGER_BASELINE then
    b_n, b_all, b_mean, b_var, b_short, b_cool, b_prev, b_same, b_rep, b_ph, b_pm, b_pc, b_hours = baseline_of(stored, n)
    -- The method starting again over a stored state: hours it may have left go with the first write.
    if b_hours == HOURS_NONE then b_moved = stored and true end
  end
  local len, at = append_values(wkey, values)
  -- A window longer than W (WINDOW_SIZE was lowered) loses its oldest values before anything else.
  local skip = len > W and len - W or 0
  local stale = len ~= n or w ~= W
  n = len - skip

  if stale and n > 0 then k, s1, s2, e1, e2 = stats_rebuild(window_values(at, len, n)) end
  if n == 0 then k, s1, s2, e1, e2 = new[1], 0, 0, 0, 0 end

  -- The per-value loop: each value is scored against the window before it (the n values ending at
  -- old ++ new[1..j-1]), then enters it, the oldest leaving once the window is full. All the state
  -- lives in locals: in Redis's Lua a table field or a call costs about as much as the arithmetic.
  local left, flagged, avg, z, flag, scored, ld, lv = skip, 0, 0, 0, 0, false, nil, nil
  local packed, open = run.packed, nil
  for j = 1, count do
    local x = new[j]
    scored = n >= MIN_SAMPLES
    z, flag = 0, 0
    if n > 0 then
      local mean, var = moments_of(n, k, s1, s2, e1, e2)
      if not mean then k, s1, s2, e1, e2, mean, var = stats_rebuild(window_values(at, len + j - 1, n)) end
      if var == 0 then
        if x ~= mean then z = (x > mean) and HUGE or -HUGE end
      else
        z = (x - mean) / sqrt(var)
      end
      if scored and abs(z) > THRESHOLD then flag = 1 end
    end

    -- The likelihood and whether the value is unusual (includes/detection.lua describes the steps).
    local high
    ld, lv = nil, nil
    if scored then
      local a = z < 0 and -z or z
      if a > DEVIATION_CLAMP then a = DEVIATION_CLAMP end
      if lc == 0 then sh = a else sh = sh + SHORT_RATE * (a - sh) end
      local dist = sh - mu
      high = LIK_HALF
      if lc >= WARMUP then
        ld, lv = dist, v < MIN_VAR and MIN_VAR or v
        high = dist >= 0 and dist * dist >= LIK_X2 * lv
      end
      local rate = 1 / (lc + 1)
      if rate < LONG_RATE then rate = LONG_RATE end
      mu, v, lc = mu + rate * dist, (1 - rate) * (v + rate * dist * dist), lc + 1
    end
    if x == prev then same = same + 1 else same = 1 end
    prev = x
    -- Unusual: keeps an episode open; opens: opens one (trigger "baseline": its alert, past its refractory).
    local unusual, opens
    if TRIGGER_BASELINE then
      -- The hour of the value's time, parsed once per time met (the events of a request often share one).
      local ts = run.events[values.events[j]].ts
      if ts ~= b_ts then b_ts, b_h = ts, baseline_hour(ts) end
      local h = b_h
      if h ~= b_ph then
        b_hours, b_moved = b_hours or redis.call('HGET', skey, 'hours') or HOURS_NONE, b_moved or b_ph >= 0
        b_hours, b_ph, b_pm, b_pc = baseline_move(b_hours, b_ph, b_pm, b_pc, h)
      end
      b_pm, b_pc, b_n, b_all, b_mean, b_var, b_short, b_cool, b_prev, b_same, b_rep, unusual, opens =
        baseline_step(b_pm, b_pc, b_n, b_all, b_mean, b_var, b_short, b_cool, b_prev, b_same, b_rep, x)
    elseif TRIGGER_FLAG then unusual = flag == 1; opens = unusual
    else
      unusual = high or (SCORE_Z ~= nil and scored and (z >= SCORE_Z or -z >= SCORE_Z)) or
        (FLATLINE > 0 and same >= FLATLINE and same - 1 < n) or (flag == 1 and seen + j - 1 < WARM_UNTIL)
      opens = unusual
    end
    -- The episode: most values neither touch nor start one, and a refractory countdown needs none of its fields.
    local step = 0
    if ep == 0 and cool > 0 then cool = cool - 1
    elseif ep == 1 or opens then
      dt = dt or episode_of(stored)
      step, ep, cool = episode_step(dt, ep, unusual, z, scored, ld, lv, x, run.events[values.events[j]].ts, NOW, P)
      if step == 1 then episodes = episodes + 1 end
    end

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
    if not avg then k, s1, s2, e1, e2, avg = stats_rebuild(window_values(at, len + j, n)) end
    if step == 1 or step == 3 then open = note_episode(run, i, values, j, dt, step, z, avg, open) end
    flagged = flagged + flag
    if FULL then packed[values.slots[j]] = spack(VALUE_LAYOUT, avg, z, ld or 0, lv or 0, flag + (scored and 2 or 0) + 4 * step) end
    if flag == 1 then record_flagged(run, i, values, j, avg, z) end
  end
  run.flagged[i] = flagged

  if open then open.record = episode_packed(dt, false) end

  -- Expiry: refreshed when older than 1% of the TTL; the index score is that refresh time, so an index
  -- entry and its keys always expire together (score + TTL).
  local refresh = not refreshed or NOW - refreshed > REFRESH_MS
  if refresh then refreshed = NOW end
  -- An episode open at the end of the values was met by the first of them: its fields are in dt.
  local bits, ts = flag + (scored and 2 or 0), tonumber(run.events[values.events[count]].ts)
  local state = spack(STATE, LAYOUT, n, k, s1, s2, e1, e2, W, seen + count, flagged0 + flagged,
    refreshed, new[count], sh, mu, v, lc, same, ep, cool, episodes, avg, z, bits, ts, NOW, ld or 0, lv or 0,
    b_n, b_all, b_mean, b_var, b_short, b_cool, b_prev, b_same, b_rep, b_ph, b_pm, b_pc)
  if ep == 1 then state = state .. spack(EPISODE, unpack(dt, 1, 10)) end
  if b_moved then redis.call('HSET', skey, 'state', state, 'hours', b_hours) else redis.call('HSET', skey, 'state', state) end
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
  run.found, run.refreshed, run.episodes, run.packed, run.outbox, run.flagged = {}, {}, {}, {}, {}, {}
  run.duplicates = #duplicates
  split_by_metric(run)
  for i = 1, #run.names do
    if #run.values[i].values > 0 then apply_metric(run, i) end
  end

  if #run.found > 0 then
    call_chunked('LPUSH', KEYS[k + 1], run.found, 1, #run.found)
    redis.call('LTRIM', KEYS[k + 1], 0, ANOMALY_CAP - 1)
    redis.call('EXPIRE', KEYS[k + 1], TTL)
  end
  local made = #run.episodes > 0 and store_episodes(KEYS[k + 4], KEYS[k + 5], ANOMALY_CAP, run.episodes)
  if #run.outbox > 0 then to_outbox(run, KEYS[k + 6]) end
  if #run.refreshed > 0 then
    redis.call('ZREMRANGEBYSCORE', KEYS[k], '-inf', NOW - TTL * 1000)
    redis.call('EXPIRE', KEYS[k], TTL)
  end
  if #run.refreshed > 0 or made then
    redis.call('EXPIRE', KEYS[k + 4], TTL)
    redis.call('EXPIRE', KEYS[k + 5], TTL)
  end
  local reply = run.reply
  if FULL then reply[#reply + 1] = table.concat(run.packed) end
  for _, e in ipairs(run.episodes) do
    local r = #reply
    reply[r + 1] = e.opened or 0; reply[r + 2] = e.closed; reply[r + 3] = e.metric; reply[r + 4] = e.record; reply[r + 5] = e.id
  end
  reply[#reply + 1] = #run.episodes
  -- Last: the refreshed metric numbers, then their count.
  for _, i in ipairs(run.refreshed) do reply[#reply + 1] = i end
  reply[#reply + 1] = #run.refreshed
  return reply
end

local replies, totals, a, k = {}, {}, 31, 1
for r = 1, RUNS do
  local run
  run, a, k = parse_run(a, k)
  local ok, result = pcall(apply_run, run)
  if not ok then result = { 'error', type(result) == 'table' and result.err or tostring(result) }
  elseif result[1] == 'ok' then count_run(run, run.duplicates, totals) end
  replies[r] = result
end
add_totals(KEYS[#KEYS], totals)
return replies
