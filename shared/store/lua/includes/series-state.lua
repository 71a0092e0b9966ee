--[[ series-state: the states of a device's series, in one hash per device (field <metric>: the state;
  <metric>:h, the baseline method's other hours), read with one HMGET and written with one HSET per run.
  A state, one layout (v6), little-endian doubles (decoded in shared/store/series-state.ts):
  version, n, k, s1, s2, e1, e2, w, count, anomalies, refreshed, last, then the detection's state sh,
  mu, v, lc, same, ep, cool, episodes (the first 20: what a call reads back), then the last value's
  results, for reads: avg, z, bits (1 anomaly, 2 scored), ts, updated, and the likelihood's d and
  variance (0, 0 while it learns); then the baseline method's 12 (includes/baseline.lua: n, all, mean,
  variance, short, cool, previous, same, repeats, and the pending hour, its mean and count; n = 0 and
  hour -1 under the other triggers: it starts again when it is the trigger again): 39 doubles; while
  an episode is open, its 10 fields follow (includes/detection.lua's dt), unpacked only when a value
  meets it (49 doubles). Field <metric>:h: the baseline method's other hours (240 bytes,
  includes/baseline.lua), written only when a value meets another hour than the pending one.
  The hash expires with the device's last series; a series' own expiry is its refresh time: a state
  refreshed longer than the TTL ago has outlived its window and is read as none (series_expired, for
  the index's clean-up). A state of another layout (a store written by an earlier version, not
  rewritten by `npm run migrate`) is not read: the series' sums are rebuilt from its window, the rest
  starts again.

  series_states(key, run): the packed states of the run's metrics, by metric number (false: none), in
    one HMGET; none read when every event of the run is a duplicate (run.duplicates, record.lua).
  series_read(packed, baseline): the state as plain numbers, for the caller's locals: the packed state
    (to unpack the rest from; false: none), whether the series' expiry is due (its last refresh is
    older than 1% of the TTL), n, k, s1, s2, e1, e2, w, count, anomalies, refreshed (NOW when due),
    last, sh, mu, v, lc, same, ep, cool, episodes (n = -1 for a layout it does not read: a rebuild),
    then the baseline method's 12 numbers (baseline: it is the trigger; else n = 0 and no pending
    hour), and when the method starts (again) here, its empty hours and whether they are to replace
    stored ones.
  series_episode(packed): dt, the open episode's fields from the packed state (zeros when none).
  series_hours(key, metric, hours, moved, ph, pm, pc, h): makes hour h the pending one (baseline_move),
    reading the metric's hours field at the first move (hours nil); returns hours, moved (the field is
    to be written), and the new ph, pm, pc.
  series_note(fields, metric, hours, moved, dt, ...): adds the state to fields (the run's HSET), its 38
    numbers after the version given in the layout's order, then dt (false: no episode open); and the
    hours when moved.
  series_expired(index, key, now, ttl): the series whose refresh is older than the TTL leave the
    device's index (zset: metric -> refresh time) and their fields the hash.
]]
--- @include "chunked"
--- @include "params"
--- @include "baseline"

local series_states, series_read, series_episode, series_hours, series_note, series_expired
do
  local LAYOUT, STATE, STATE_SIZE = 6, '<' .. string.rep('d', 39), 39 * 8
  local HOT, BASELINE, BASELINE_AT = '<' .. string.rep('d', 20), '<' .. string.rep('d', 12), 27 * 8 + 1
  local EPISODE = '<' .. string.rep('d', 10)

  -- The baseline method's part of the state (see series_read).
  local function series_baseline(packed, n, baseline)
    if not baseline then return 0, 0, 0, 0, 0, 0, 0, 0, 0, -1, 0, 0 end
    if n >= 0 and packed then
      local b_n, all, mean, var, short, cool, prev, same, rep, ph, pm, pc = struct.unpack(BASELINE, packed, BASELINE_AT)
      if b_n > 0 then return b_n, all, mean, var, short, cool, prev, same, rep, ph, pm, pc end
    end
    -- The method starts (a new series, another layout, or n = 0: another trigger wrote it): hours it may
    -- have left go with the first write.
    local b_n, all, mean, var, short, cool, prev, same, rep, ph, pm, pc, hours = baseline_new()
    return b_n, all, mean, var, short, cool, prev, same, rep, ph, pm, pc, hours, packed and true
  end

  function series_states(key, run)
    if run.duplicates == #run.events then return {} end
    return hmget_chunked(key, run.names)
  end

  function series_read(packed, baseline)
    if not packed then
      return packed, true, 0, 0, 0, 0, 0, 0, 0, 0, 0, NOW, nil, 0, 0, 0, 0, 0, 0, 0, 0, series_baseline(packed, 0, baseline)
    end
    local size = #packed
    if (size == STATE_SIZE or size == STATE_SIZE + 80) and struct.unpack('<d', packed) == LAYOUT then
      local _, n, k, s1, s2, e1, e2, w, seen, flagged, refreshed, last, sh, mu, v, lc, same, ep, cool, episodes = struct.unpack(HOT, packed)
      -- Older than the TTL: the series expired (its window with it); its fields wait for the index's clean-up.
      if NOW - refreshed > TTL * 1000 then
        return false, true, 0, 0, 0, 0, 0, 0, 0, 0, 0, NOW, nil, 0, 0, 0, 0, 0, 0, 0, 0, series_baseline(packed, -1, baseline)
      end
      local refresh = NOW - refreshed > REFRESH_MS
      return packed, refresh, n, k, s1, s2, e1, e2, w, seen, flagged, refresh and NOW or refreshed, last, sh, mu, v, lc, same,
        ep, cool, episodes, series_baseline(packed, n, baseline)
    end
    return packed, true, -1, 0, 0, 0, 0, 0, 0, 0, 0, NOW, nil, 0, 0, 0, 0, 0, 0, 0, 0, series_baseline(packed, -1, baseline)
  end

  function series_episode(packed)
    if packed and #packed == STATE_SIZE + 80 then return { struct.unpack(EPISODE, packed, STATE_SIZE + 1) } end
    return { 0, 0, 0, 0, 0, 0, 0, 0, 0, 0 }
  end

  function series_hours(key, metric, hours, moved, ph, pm, pc, h)
    hours, moved = hours or redis.call('HGET', key, metric .. ':h'), moved or ph >= 0
    hours, ph, pm, pc = baseline_move(hours, ph, pm, pc, h)
    return hours, moved, ph, pm, pc
  end

  function series_note(fields, metric, hours, moved, dt, ...)
    local state = struct.pack(STATE, LAYOUT, ...)
    if dt then state = state .. struct.pack(EPISODE, unpack(dt, 1, 10)) end
    local f = #fields
    fields[f + 1] = metric; fields[f + 2] = state
    if moved then fields[f + 3] = metric .. ':h'; fields[f + 4] = hours end
  end

  function series_expired(index, key, now, ttl)
    local gone = redis.call('ZRANGEBYSCORE', index, '-inf', now - ttl * 1000)
    if #gone == 0 then return end
    call_chunked('ZREM', index, gone, 1, #gone)
    local fields = {}
    for _, metric in ipairs(gone) do fields[#fields + 1] = metric; fields[#fields + 1] = metric .. ':h' end
    call_chunked('HDEL', key, fields, 1, #fields)
  end
end
