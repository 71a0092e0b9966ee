--[[ detection: graded score, anomaly likelihood and alert episodes of one series, one value at a time.
  The same arithmetic, in the same order, as shared/detector/detection.ts (the reference, where the
  method is described); tests hold the two together. dt is the series' detection state table:
  sh, mu, v, lc (likelihood), ep, start, calm, cool, episodes, last_unusual, peak, peak_value, peak_at,
  open_value, open_score, open_likelihood, opened_at (episode). P holds the parameters:
  short, long, trigger_flag, lik_threshold, score_threshold, close_after, refractory.
]]
local SQRT2 = math.sqrt(2)
local WARMUP_SHARE, MIN_STD = 0.1, 0.05
local QUANTILE_CLAMP, TAIL_CLAMP, P_LOW = 8, 6.2e-16, 0.02425
local A1, A2, A3, A4, A5, A6 = -3.969683028665376e1, 2.209460984245205e2, -2.759285104469687e2, 1.38357751867269e2, -3.066479806614716e1, 2.506628277459239
local B1, B2, B3, B4, B5 = -5.447609879822406e1, 1.615858368580409e2, -1.556989798598866e2, 6.680131188771972e1, -1.328068155288572e1
local C1, C2, C3, C4, C5, C6 = -7.784894002430293e-3, -3.223964580411365e-1, -2.400758277161838, -2.549671010506745, 4.374664141464968, 2.938163982698783
local D1, D2, D3, D4 = 7.784695709041462e-3, 3.224671290700398e-1, 2.445134137142996, 3.754408661907416

local function erfc(x)
  local t = 1 / (1 + 0.5 * x)
  local poly = -1.26551223 + t * (1.00002368 + t * (0.37409196 + t * (0.09678418 + t * (-0.18628806 +
    t * (0.27886807 + t * (-1.13520398 + t * (1.48851587 + t * (-0.82215223 + t * 0.17087277))))))))
  return t * math.exp(-x * x + poly)
end

local function tail_of(z)
  if z == math.huge or z == -math.huge then return 0 end
  return erfc(math.abs(z) / SQRT2)
end

local function lower_quantile(p)
  local q = math.sqrt(-2 * math.log(p))
  return (((((C1 * q + C2) * q + C3) * q + C4) * q + C5) * q + C6) / ((((D1 * q + D2) * q + D3) * q + D4) * q + 1)
end

-- Normal quantile of a score, clamped to +-8, from the score and its tail (precise where the score is 1).
local function score_quantile(score, tail)
  if tail < TAIL_CLAMP then return QUANTILE_CLAMP end
  if score < TAIL_CLAMP then return -QUANTILE_CLAMP end
  if tail < P_LOW then return -lower_quantile(tail) end
  if score < P_LOW then return lower_quantile(score) end
  local q = score - 0.5
  local r = q * q
  return ((((((A1 * r + A2) * r + A3) * r + A4) * r + A5) * r + A6) * q) / (((((B1 * r + B2) * r + B3) * r + B4) * r + B5) * r + 1)
end

local function normal_cdf(x)
  if x >= 0 then return 1 - 0.5 * erfc(x / SQRT2) end
  return 0.5 * erfc(-x / SQRT2)
end

local function likelihood_step(dt, quantile, P)
  if dt.lc == 0 then dt.sh = quantile else dt.sh = dt.sh + (2 / (P.short + 1)) * (quantile - dt.sh) end
  local likelihood = 0.5
  if dt.lc >= WARMUP_SHARE * P.long then
    local std = math.sqrt(dt.v)
    if std < MIN_STD then std = MIN_STD end
    likelihood = normal_cdf((dt.sh - dt.mu) / std)
  end
  local rate = 2 / (P.long + 1)
  if 1 / (dt.lc + 1) > rate then rate = 1 / (dt.lc + 1) end
  local d = dt.sh - dt.mu
  dt.mu = dt.mu + rate * d
  dt.v = (1 - rate) * (dt.v + rate * d * d)
  dt.lc = dt.lc + 1
  return likelihood
end

-- Returns 0 (no episode), 1 (opened by this value), 2 (open), 3 (closed by this value).
local function episode_step(dt, unusual, score, likelihood, value, ts, now, P)
  if dt.ep == 1 then
    if not unusual then
      dt.calm = dt.calm + 1
      if dt.calm < P.close_after then return 2 end
      dt.ep = 0; dt.cool = P.refractory
      return 3
    end
    dt.calm = 0; dt.last_unusual = ts
    if score > dt.peak then dt.peak, dt.peak_value, dt.peak_at = score, value, ts end
    return 2
  end
  if dt.cool > 0 then dt.cool = dt.cool - 1; return 0 end
  if not unusual then return 0 end
  dt.ep, dt.start, dt.calm, dt.episodes, dt.last_unusual = 1, ts, 0, dt.episodes + 1, ts
  dt.peak, dt.peak_value, dt.peak_at = score, value, ts
  dt.open_value, dt.open_score, dt.open_likelihood, dt.opened_at = value, score, likelihood, now
  return 1
end

-- Score, likelihood and episode step of one value; updates dt.
local function detect(dt, z, scored, flag, value, ts, now, P)
  local score, likelihood = 0, 0.5
  if scored then
    local tail = tail_of(z)
    score = 1 - tail
    if score < 0 then score = 0 end
    likelihood = likelihood_step(dt, score_quantile(score, tail), P)
  end
  local unusual
  if P.trigger_flag then unusual = flag == 1
  else unusual = likelihood >= P.lik_threshold or (P.score_threshold > 0 and score >= P.score_threshold) end
  return score, likelihood, episode_step(dt, unusual, score, likelihood, value, ts, now, P)
end
