--[[ apply-values: one metric of a run, its values in order, through its series: window, sums, score,
  likelihood, the trigger's test and the alert episode.
  apply_values(run, i, wkey, skey, packed): applies run.values[i] (includes/runs.lua) to the series of
    window wkey and packed state (series_states; in the device's state hash skey). Each value is scored against the window before it (the n values ending at
    old ++ new[1..j-1]), then enters it, the oldest leaving once the window is full. In mode "full"
    its result goes to run.packed at its slot (33 bytes, struct "<ddddB", record.lua's header); a
    flagged value is noted in the anomaly list, an episode's opening or closing in run.episodes (and
    the outbox). Sets run.flagged[i], the values flagged, and adds its state to run.fields (the run's HSET);
    returns whether the series' expiry is due (series_read).
  The loop keeps the whole state in locals and calls only functions that take and return plain numbers
  (or none, on rare paths): in Redis's Lua a table field or a call costs about as much as the arithmetic.
]]
--- @include "params"
--- @include "series-state"
--- @include "window"
--- @include "window-stats"
--- @include "detection"
--- @include "baseline"
--- @include "episode-notes"
--- @include "anomaly-list"

local apply_values
do
  local abs, sqrt, spack, HUGE = math.abs, math.sqrt, struct.pack, math.huge
  local VALUE_LAYOUT = '<ddddB'

  function apply_values(run, i, wkey, skey, packed_state)
    local values = run.values[i]
    local new, events, slots, count, packed = values.values, values.events, values.slots, #values.values, run.packed
    local stored, refresh, n, k, s1, s2, e1, e2, w, seen, flagged0, refreshed, prev, sh, mu, v, lc, same, ep, cool, episodes,
      b_n, b_all, b_mean, b_var, b_short, b_cool, b_prev, b_same, b_rep, b_ph, b_pm, b_pc, hours, moved = series_read(packed_state, TRIGGER_BASELINE)
    local len, at, left
    len, at, left, n, k, s1, s2, e1, e2 = window_append(wkey, values.texts, new, W, n, w, k, s1, s2, e1, e2)
    local flagged, avg, z, flag, scored, ld, lv, mean, var, dt, open, b_ts, b_h = 0, 0, 0, 0, false
    for j = 1, count do
      local x = new[j]
      scored, z, flag = n >= MIN_SAMPLES, 0, 0
      if n > 0 then
        if not mean then mean, var = moments_of(n, k, s1, s2, e1, e2) end
        if not mean then k, s1, s2, e1, e2, mean, var = window_rebuild(at, len + j - 1, n) end
        if var ~= 0 then z = (x - mean) / sqrt(var) elseif x ~= mean then z = x > mean and HUGE or -HUGE end
        if scored and abs(z) > THRESHOLD then flag = 1 end
      end
      local unusual, opens
      if scored then sh, mu, v, lc, ld, lv, unusual = likelihood_step(z, sh, mu, v, lc) else ld, lv = nil, nil end
      if x == prev then same = same + 1 else same = 1 end
      prev = x
      if TRIGGER_BASELINE then
        -- The hour of the value's time, parsed once per time met (the events of a request often share one).
        local ts = run.events[events[j]].ts
        if ts ~= b_ts then b_ts, b_h = ts, baseline_hour(ts) end
        -- No hours (BASELINE_HOUR_SPAN = 0): a pending hour stored before stays as it is.
        if b_h ~= b_ph and b_h >= 0 then hours, moved, b_ph, b_pm, b_pc = series_hours(skey, run.names[i], hours, moved, b_ph, b_pm, b_pc, b_h) end
        b_pm, b_pc, b_n, b_all, b_mean, b_var, b_short, b_cool, b_prev, b_same, b_rep, unusual, opens =
          baseline_step(b_pm, b_pc, b_n, b_all, b_mean, b_var, b_short, b_cool, b_prev, b_same, b_rep, x)
      elseif TRIGGER_FLAG then unusual = flag == 1; opens = unusual
      else
        unusual = unusual or (FLATLINE > 0 and same >= FLATLINE and same - 1 < n) or (flag == 1 and seen + j - 1 < WARM_UNTIL)
        opens = unusual
      end
      -- The episode: most values neither touch nor start one, and a refractory countdown needs none of its fields.
      local step = 0
      if ep == 0 and cool > 0 then cool = cool - 1
      elseif ep == 1 or opens then
        dt = dt or series_episode(stored)
        step, ep, cool = episode_step(dt, ep, unusual, z, scored, ld, lv, x, run.events[events[j]].ts, NOW, P)
        if step == 1 then episodes = episodes + 1 end
      end
      -- x enters the window (its oldest value leaving once it is full); the moments with x are x's average
      -- and what the next value is scored against (none after a rebuild: computed again then).
      if n == W then left = left + 1 end
      n, s1, s2, e1, e2, mean, var = stats_slide(n, k, s1, s2, e1, e2, n == W and at(left), x)
      avg = mean
      if not avg then k, s1, s2, e1, e2, avg = window_rebuild(at, len + j, n) end
      if step == 1 or step == 3 then open = episode_note(run, i, values, j, dt, step, z, avg, open) end
      flagged = flagged + flag
      if FULL then packed[slots[j]] = spack(VALUE_LAYOUT, avg, z, ld or 0, lv or 0, flag + (scored and 2 or 0) + 4 * step) end
      if flag == 1 then anomaly_note(run, i, values, j, avg, z) end
    end
    if open then open.record = episode_packed(dt, false) end
    run.flagged[i] = flagged
    series_note(run.fields, run.names[i], hours, moved, ep == 1 and dt, n, k, s1, s2, e1, e2, W, seen + count, flagged0 + flagged, refreshed, prev,
      sh, mu, v, lc, same, ep, cool, episodes, avg, z, flag + (scored and 2 or 0), tonumber(run.events[events[count]].ts), NOW,
      ld or 0, lv or 0, b_n, b_all, b_mean, b_var, b_short, b_cool, b_prev, b_same, b_rep, b_ph, b_pm, b_pc)
    return refresh
  end
end
