--[[ detection: graded score, anomaly likelihood and alert episodes of one series, one value at a time.
  The same arithmetic, in the same order, as shared/detector/detection.ts (the reference, where the
  method is described); tests hold the two together.
  detection_setup(short_span, long_span, likelihood, score): takes the parameters (ARGV) once per call,
    as upvalues of the steps: the likelihood's two spans, EPISODE_LIKELIHOOD and EPISODE_SCORE.
  likelihood_step(z, sh, mu, v, lc): the likelihood's step for a scored value of deviation z; its
    state (sh, mu, v, lc) comes and goes as plain numbers, kept in the caller's locals across its
    per-value loop (a call costs about as much as this arithmetic). Returns the new state, then the
    likelihood's d and variance (nil, nil while it learns), then whether the value is unusual by the
    likelihood or by an extreme score (trigger "likelihood").
  episode_step(dt, ep, unusual, z, scored, d, var, value, ts, now, P): called only when a value opens
    an episode or meets an open one (below).
  dt, an episode's fields: an array of 10 numbers, start, calm, last_unusual, peak, peak_value,
    peak_at, open_value, open_score, open_likelihood, opened_at (the series' state keeps them in this
    order while the episode is open, and unpacks them only then). P holds close_after and refractory.
  episode_fields(dt): the fields of its record, in the record's order: start, last_unusual, open_value,
    open_score, open_likelihood, opened_at, peak, peak_value, peak_at.
  Per value only arithmetic runs: the score and the likelihood, which need exp, are computed where
  they are used (an episode's opening or peak); the replies and the state carry z and the
  likelihood's d and variance, from which the caller computes them.
]]

local detection_setup, likelihood_step, episode_step, episode_fields
do
  -- Locals, not math.x: each global lookup costs about as much as the arithmetic here. Each constant is
  -- declared next to the functions that use it: a closure made once per call walks past every local
  -- captured above the one it captures (Lua 5.1's luaF_findupval).
  local m_exp, m_sqrt, m_log, HUGE_ = math.exp, math.sqrt, math.log, math.huge

  -- The episode thresholds where they are compared (shared/detector/detection.ts, thresholdsOf), from
  -- Φ⁻¹(p), computed once per call.
  local thresholds_of
  do
    local P_LOW = 0.02425
    local C1, C2, C3, C4, C5, C6 = -7.784894002430293e-3, -3.223964580411365e-1, -2.400758277161838, -2.549671010506745, 4.374664141464968, 2.938163982698783
    local D1, D2, D3, D4 = 7.784695709041462e-3, 3.224671290700398e-1, 2.445134137142996, 3.754408661907416

    local function lower_quantile(p)
      local q = m_sqrt(-2 * m_log(p))
      return (((((C1 * q + C2) * q + C3) * q + C4) * q + C5) * q + C6) / ((((D1 * q + D2) * q + D3) * q + D4) * q + 1)
    end

    local A1, A2, A3, A4, A5, A6 = -3.969683028665376e1, 2.209460984245205e2, -2.759285104469687e2, 1.38357751867269e2, -3.066479806614716e1, 2.506628277459239
    local B1, B2, B3, B4, B5 = -5.447609879822406e1, 1.615858368580409e2, -1.556989798598866e2, 6.680131188771972e1, -1.328068155288572e1

    local function normal_quantile(p)
      if p <= 0 then return -HUGE_ end
      if p >= 1 then return HUGE_ end
      if p < P_LOW then return lower_quantile(p) end
      if 1 - p < P_LOW then return -lower_quantile(1 - p) end
      local c = p - 0.5
      local r = c * c
      return ((((((A1 * r + A2) * r + A3) * r + A4) * r + A5) * r + A6) * c) / (((((B1 * r + B2) * r + B3) * r + B4) * r + B5) * r + 1)
    end

    function thresholds_of(likelihood, score)
      local x = normal_quantile(likelihood)
      return x * x, likelihood <= 0.5 and true or false, score > 0 and normal_quantile((1 + score) / 2) or nil
    end
  end

  -- The likelihood's parameters (detection_setup): its two rates, the values it learns before it
  -- judges, lik_x2 (Φ⁻¹(EPISODE_LIKELIHOOD)²), lik_half (EPISODE_LIKELIHOOD is 0.5), score_z (the |z| of
  -- EPISODE_SCORE; nil when off).
  local SHORT_RATE, LONG_RATE, WARMUP, LIK_X2, LIK_HALF, SCORE_Z
  local MIN_VAR = 0.05 * 0.05 -- the smallest spread the likelihood assumes, squared
  local DEVIATION_CLAMP = 8

  function detection_setup(short_span, long_span, likelihood, score)
    SHORT_RATE, LONG_RATE, WARMUP = 2 / (short_span + 1), 2 / (long_span + 1), 0.1 * long_span
    LIK_X2, LIK_HALF, SCORE_Z = thresholds_of(likelihood, score)
  end

  function likelihood_step(z, sh, mu, v, lc)
    local a = z < 0 and -z or z
    if a > DEVIATION_CLAMP then a = DEVIATION_CLAMP end
    if lc == 0 then sh = a else sh = sh + SHORT_RATE * (a - sh) end
    local dist = sh - mu
    local high, d, var = LIK_HALF, nil, nil
    if lc >= WARMUP then
      d, var = dist, v < MIN_VAR and MIN_VAR or v
      high = dist >= 0 and dist * dist >= LIK_X2 * var
    end
    local rate = 1 / (lc + 1)
    if rate < LONG_RATE then rate = LONG_RATE end
    return sh, mu + rate * dist, (1 - rate) * (v + rate * dist * dist), lc + 1, d, var,
      high or (SCORE_Z ~= nil and (z >= SCORE_Z or -z >= SCORE_Z))
  end

  local SQRT2 = math.sqrt(2)

  local function erfc(x)
    local t = 1 / (1 + 0.5 * x)
    local poly = -1.26551223 + t * (1.00002368 + t * (0.37409196 + t * (0.09678418 + t * (-0.18628806 +
      t * (0.27886807 + t * (-1.13520398 + t * (1.48851587 + t * (-0.82215223 + t * 0.17087277))))))))
    return t * m_exp(-x * x + poly)
  end

  -- The score of z (0 when the baseline is too short).
  local function score_of(z, scored)
    if not scored then return 0 end
    if z == HUGE_ or z == -HUGE_ then return 1 end
    local s = 1 - erfc((z < 0 and -z or z) / SQRT2)
    return s < 0 and 0 or s
  end

  -- The likelihood of a value from its average's distance d to the long-run mean and that run's
  -- variance (nil: still learning, 0.5).
  local function likelihood_of(d, var)
    if not d then return 0.5 end
    local x = d / m_sqrt(var)
    if x >= 0 then return 1 - 0.5 * erfc(x / SQRT2) end
    return 0.5 * erfc(-x / SQRT2)
  end

  -- dt's fields (see the header).
  local START, CALM, LAST_UNUSUAL, PEAK, PEAK_VALUE, PEAK_AT, OPEN_VALUE, OPEN_SCORE, OPEN_LIKELIHOOD, OPENED_AT =
    1, 2, 3, 4, 5, 6, 7, 8, 9, 10

  -- Moves the episode on by one value that opens one (ep 0: unusual, no refractory values left) or
  -- meets an open one (ep 1). Returns the step (1 opened by this value, 2 open, 3 closed by this value)
  -- and the new ep and refractory count. ts is the value's time as its text, read as a number only here.
  function episode_step(dt, ep, unusual, z, scored, d, var, value, ts, now, P)
    if ep == 1 then
      if not unusual then
        dt[CALM] = dt[CALM] + 1
        if dt[CALM] < P.close_after then return 2, 1, 0 end
        return 3, 0, P.refractory
      end
      ts = tonumber(ts)
      dt[CALM] = 0; dt[LAST_UNUSUAL] = ts
      local score = score_of(z, scored)
      if score > dt[PEAK] then dt[PEAK], dt[PEAK_VALUE], dt[PEAK_AT] = score, value, ts end
      return 2, 1, 0
    end
    ts = tonumber(ts)
    local score = score_of(z, scored)
    dt[START], dt[CALM], dt[LAST_UNUSUAL] = ts, 0, ts
    dt[PEAK], dt[PEAK_VALUE], dt[PEAK_AT] = score, value, ts
    dt[OPEN_VALUE], dt[OPEN_SCORE], dt[OPEN_LIKELIHOOD], dt[OPENED_AT] = value, score, likelihood_of(d, var), now
    return 1, 1, 0
  end

  function episode_fields(dt)
    return dt[START], dt[LAST_UNUSUAL], dt[OPEN_VALUE], dt[OPEN_SCORE], dt[OPEN_LIKELIHOOD], dt[OPENED_AT], dt[PEAK],
      dt[PEAK_VALUE], dt[PEAK_AT]
  end
end
