--[[ baseline: the alert method of trigger "baseline", one value at a time: an hour-of-day baseline, the
  long-run mean and variance of the residual from it, and the spike, level and flatline tests, with a
  warm-up and a refractory period. The same arithmetic, in the same order, as
  shared/detector/baseline.ts (the reference, where the method is described); tests hold the two together.
  baseline_setup(long, short, spike_z, level_z, refractory, warmup, hour_span, flat_run, flat_share)
    takes the parameters (ARGV) once per call, as upvalues of the step.
  The hours of a series: 24 means (doubles) then 24 counts (uint16), little-endian, in a block of 240
    bytes kept in its own field of the state hash (series-state.lua), apart from one hour, the pending hour
    ph (-1: none), whose mean pm and count pc live among the state's numbers: values mostly arrive in
    time order, so the block is read and rewritten only when a value meets another hour (once an hour),
    and a call whose values stay in the pending hour builds no string for it.
  baseline_hour(ts) is the hour of the day of time ts (ms, as text), or -1 when there are no hours.
  baseline_new() is the state of a series where the method starts, its 12 numbers in the order the
    series' state keeps them (n, all, mean, var, short, cool, prev, same, rep, then ph = -1, pm, pc),
    then its empty block of hours.
  baseline_move(hb, ph, pm, pc, h) makes hour h the pending one: returns the block (hb; nil or false:
    the empty one) with the pending hour written back (when there was one), then h and its mean and count.
  baseline_step(pm, pc, n, all, mean, var, short, cool, prev, same, rep, x) moves a series on by value
    x, pm and pc being its hour's; the 11 numbers come and go as plain values, kept in the caller's
    locals across its per-value loop. Returns them, then whether a test fired on x and whether x
    raised an alert.
]]

local baseline_setup, baseline_hour, baseline_new, baseline_move, baseline_step
do
  local B_LONG_RATE, B_SHORT_RATE, B_SPIKE_Z, B_LEVEL_Z, B_REFRACTORY, B_WARMUP, B_HOUR_SPAN, B_HOUR_RATE, B_FLAT_RUN, B_FLAT_SHARE
  local b_floor, b_sqrt, b_sub, b_pack, b_unpack, B_HOUR_MS = math.floor, math.sqrt, string.sub, struct.pack, struct.unpack, 3600000
  -- The block of a series that has none yet (zeros: no hour seen).
  local HOURS_NONE = string.rep('\0', 24 * 10)

  function baseline_setup(long, short, spike_z, level_z, refractory, warmup, hour_span, flat_run, flat_share)
    B_LONG_RATE, B_SHORT_RATE, B_SPIKE_Z, B_LEVEL_Z = 2 / (long + 1), 2 / (short + 1), spike_z, level_z
    B_REFRACTORY, B_WARMUP, B_HOUR_SPAN, B_HOUR_RATE = refractory, warmup, hour_span, 1 / hour_span
    B_FLAT_RUN, B_FLAT_SHARE = flat_run, flat_share
  end

  function baseline_hour(ts)
    if B_HOUR_SPAN == 0 then return -1 end
    return b_floor(tonumber(ts) / B_HOUR_MS) % 24
  end

  function baseline_new()
    return 0, 0, 0, 0, 0, 0, 0, 0, 0, -1, 0, 0, HOURS_NONE
  end

  function baseline_move(hb, ph, pm, pc, h)
    hb = hb or HOURS_NONE
    if ph >= 0 then
      hb = b_sub(hb, 1, 8 * ph) .. b_pack('<d', pm) .. b_sub(hb, 8 * ph + 9, 192 + 2 * ph) .. b_pack('<H', pc) .. b_sub(hb, 192 + 2 * ph + 3)
    end
    return hb, h, b_unpack('<d', hb, 8 * h + 1), (b_unpack('<H', hb, 192 + 2 * h + 1))
  end

  function baseline_step(pm, pc, n, all, mean, var, short, cool, prev, same, rep, x)
    -- The residual from the value's hour of the day (the overall mean for an hour not seen yet).
    local rate = 1 / (n + 1)
    if rate < B_LONG_RATE then rate = B_LONG_RATE end
    if n == 0 then all = x else all = all + rate * (x - all) end
    local y = x
    if B_HOUR_SPAN > 0 then
      local before = all
      if pc > 0 then
        before = pm
        local r = 1 / (pc + 1)
        if r < B_HOUR_RATE then r = B_HOUR_RATE end
        pm = before + r * (x - before)
      else
        pm = x
      end
      pc = pc + 1 < B_HOUR_SPAN and pc + 1 or B_HOUR_SPAN
      y = x - before
    end
    -- Its deviation, and that of its short average, from the long-run baseline before it; then the baseline.
    local sd = b_sqrt(var)
    if n == 0 then short = y else short = short + B_SHORT_RATE * (y - short) end
    local z, sz = 0, 0
    if n > 1 and sd > 0 then z, sz = (y - mean) / sd, (short - mean) / sd end
    local d = y - mean
    mean, var, n = mean + rate * d, (1 - rate) * (var + rate * d * d), n + 1
    -- The run of identical values, and the share of values that repeat their predecessor.
    local again = n > 1 and x == prev
    if again then same = same + 1 else same = 1 end
    local firing = (B_FLAT_RUN > 0 and same == B_FLAT_RUN and rep < B_FLAT_SHARE) or
      (B_SPIKE_Z > 0 and (z >= B_SPIKE_Z or -z >= B_SPIKE_Z)) or (B_LEVEL_Z > 0 and (sz >= B_LEVEL_Z or -sz >= B_LEVEL_Z))
    local rr = 1 / n
    if rr < B_LONG_RATE then rr = B_LONG_RATE end
    rep, prev = rep + rr * ((again and 1 or 0) - rep), x
    if cool > 0 then return pm, pc, n, all, mean, var, short, cool - 1, prev, same, rep, firing, false end
    if n <= B_WARMUP or not firing then return pm, pc, n, all, mean, var, short, cool, prev, same, rep, firing, false end
    return pm, pc, n, all, mean, var, short, B_REFRACTORY, prev, same, rep, firing, true
  end
end
