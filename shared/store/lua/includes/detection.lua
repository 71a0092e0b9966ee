--[[ detection: graded score, anomaly likelihood and alert episodes of one series, one value at a time.
  The same arithmetic, in the same order, as shared/detector/detection.ts (the reference, where the
  method is described); tests hold the two together. dt is the series' packed state as an array
  (record.lua's layout v2), updated in place at the indexes below: sh, mu, v, lc (likelihood), ep,
  start, calm, cool, episodes, last_unusual, peak, peak_value, peak_at, open_value, open_score,
  open_likelihood, opened_at (episode), same (identical values in a row). An array filled by struct.unpack and emptied by struct.pack
  costs far less per series than a table of named fields. P holds the parameters:
  short_rate and long_rate (2 / (span + 1)), warmup, trigger_flag, lik_threshold, score_threshold,
  close_after, refractory, flatline, flag_warmup.
]]
local SQRT2 = math.sqrt(2)
-- Locals, not math.x: each global lookup costs about as much as the arithmetic here.
local m_exp, m_sqrt, m_log, HUGE_ = math.exp, math.sqrt, math.log, math.huge
local SH, MU, V, LC, EP, START, CALM, COOL, EPISODES, LAST_UNUSUAL, PEAK, PEAK_VALUE, PEAK_AT, OPEN_VALUE, OPEN_SCORE, OPEN_LIKELIHOOD, OPENED_AT =
  20, 21, 22, 23, 24, 25, 26, 27, 28, 29, 30, 31, 32, 33, 34, 35, 36
local SAME = 37
local MIN_STD = 0.05 -- the learning period, 0.1 of the long span, is P.warmup (record.lua)
local QUANTILE_CLAMP, TAIL_CLAMP, P_LOW = 8, 6.2e-16, 0.02425
local A1, A2, A3, A4, A5, A6 = -3.969683028665376e1, 2.209460984245205e2, -2.759285104469687e2, 1.38357751867269e2, -3.066479806614716e1, 2.506628277459239
local B1, B2, B3, B4, B5 = -5.447609879822406e1, 1.615858368580409e2, -1.556989798598866e2, 6.680131188771972e1, -1.328068155288572e1
local C1, C2, C3, C4, C5, C6 = -7.784894002430293e-3, -3.223964580411365e-1, -2.400758277161838, -2.549671010506745, 4.374664141464968, 2.938163982698783
local D1, D2, D3, D4 = 7.784695709041462e-3, 3.224671290700398e-1, 2.445134137142996, 3.754408661907416

local function erfc(x)
  local t = 1 / (1 + 0.5 * x)
  local poly = -1.26551223 + t * (1.00002368 + t * (0.37409196 + t * (0.09678418 + t * (-0.18628806 +
    t * (0.27886807 + t * (-1.13520398 + t * (1.48851587 + t * (-0.82215223 + t * 0.17087277))))))))
  return t * m_exp(-x * x + poly)
end

local function lower_quantile(p)
  local q = m_sqrt(-2 * m_log(p))
  return (((((C1 * q + C2) * q + C3) * q + C4) * q + C5) * q + C6) / ((((D1 * q + D2) * q + D3) * q + D4) * q + 1)
end

-- Returns 0 (no episode), 1 (opened by this value), 2 (open), 3 (closed by this value).
-- ts is the value's time as its text: read as a number only here, on the rare path through an episode.
local function episode_step(dt, unusual, score, likelihood, value, ts, now, P)
  ts = tonumber(ts)
  if dt[EP] == 1 then
    if not unusual then
      dt[CALM] = dt[CALM] + 1
      if dt[CALM] < P.close_after then return 2 end
      dt[EP] = 0; dt[COOL] = P.refractory
      return 3
    end
    dt[CALM] = 0; dt[LAST_UNUSUAL] = ts
    if score > dt[PEAK] then dt[PEAK], dt[PEAK_VALUE], dt[PEAK_AT] = score, value, ts end
    return 2
  end
  if dt[COOL] > 0 then dt[COOL] = dt[COOL] - 1; return 0 end
  if not unusual then return 0 end
  dt[EP], dt[START], dt[CALM], dt[EPISODES], dt[LAST_UNUSUAL] = 1, ts, 0, dt[EPISODES] + 1, ts
  dt[PEAK], dt[PEAK_VALUE], dt[PEAK_AT] = score, value, ts
  dt[OPEN_VALUE], dt[OPEN_SCORE], dt[OPEN_LIKELIHOOD], dt[OPENED_AT] = value, score, likelihood, now
  return 1
end

-- Score, likelihood and episode step of one value; updates dt. One function, the steps inline: in
-- Redis's Lua a call costs about as much as the arithmetic of a step (this runs once per value).
-- prev: the series' value before this one (nil: none); samples: values in its baseline.
local function detect(dt, z, scored, flag, value, prev, samples, ts, now, P)
  local score, likelihood = 0, 0.5
  if scored then
    -- the score and its two-sided tail 1 - score
    local tail = 0
    if z ~= HUGE_ and z ~= -HUGE_ then tail = erfc((z < 0 and -z or z) / SQRT2) end
    score = 1 - tail
    if score < 0 then score = 0 end
    -- its normal quantile, clamped to +-8, from the tail where the score has rounded to 1
    local q
    if tail < TAIL_CLAMP then q = QUANTILE_CLAMP
    elseif score < TAIL_CLAMP then q = -QUANTILE_CLAMP
    elseif tail < P_LOW then q = -lower_quantile(tail)
    elseif score < P_LOW then q = lower_quantile(score)
    else
      local c = score - 0.5
      local r = c * c
      q = ((((((A1 * r + A2) * r + A3) * r + A4) * r + A5) * r + A6) * c) / (((((B1 * r + B2) * r + B3) * r + B4) * r + B5) * r + 1)
    end
    -- the likelihood of the short average against the long-run distribution, then that distribution
    local sh, mu, v, lc = dt[SH], dt[MU], dt[V], dt[LC]
    if lc == 0 then sh = q else sh = sh + P.short_rate * (q - sh) end
    if lc >= P.warmup then
      local std = m_sqrt(v)
      if std < MIN_STD then std = MIN_STD end
      local x = (sh - mu) / std
      if x >= 0 then likelihood = 1 - 0.5 * erfc(x / SQRT2) else likelihood = 0.5 * erfc(-x / SQRT2) end
    end
    local rate = P.long_rate
    if 1 / (lc + 1) > rate then rate = 1 / (lc + 1) end
    local d = sh - mu
    dt[SH], dt[MU], dt[V], dt[LC] = sh, mu + rate * d, (1 - rate) * (v + rate * d * d), lc + 1
  end
  local same = 1
  if value == prev then same = dt[SAME] + 1 end
  dt[SAME] = same
  local unusual
  if P.trigger_flag then unusual = flag == 1
  else
    unusual = likelihood >= P.lik_threshold or (P.score_threshold > 0 and score >= P.score_threshold) or
      (P.flatline > 0 and same >= P.flatline and same - 1 < samples) or
      (flag == 1 and dt[LC] <= P.flag_warmup)
  end
  -- Most values neither touch nor start an episode.
  if not unusual and dt[EP] == 0 and dt[COOL] == 0 then return score, likelihood, 0 end
  return score, likelihood, episode_step(dt, unusual, score, likelihood, value, ts, now, P)
end
