--[[ detection: graded score, anomaly likelihood and alert episodes of one series, one value at a time.
  The same arithmetic, in the same order, as shared/detector/detection.ts (the reference, where the
  method is described); tests hold the two together. dt is the series' detection state table:
  sh, mu, v, lc (likelihood), ep, start, calm, cool, episodes, last_unusual, peak, peak_value, peak_at,
  open_value, open_score, open_likelihood, opened_at (episode). P holds the parameters:
  short, long, trigger_flag, lik_threshold, score_threshold, close_after, refractory.
]]
local SQRT2 = math.sqrt(2)
local WARMUP_SHARE, MIN_STD = 0.1, 0.01

local function erfc(x)
  local t = 1 / (1 + 0.5 * x)
  local poly = -1.26551223 + t * (1.00002368 + t * (0.37409196 + t * (0.09678418 + t * (-0.18628806 +
    t * (0.27886807 + t * (-1.13520398 + t * (1.48851587 + t * (-0.82215223 + t * 0.17087277))))))))
  return t * math.exp(-x * x + poly)
end

local function score_of(z, scored)
  if not scored then return 0 end
  if z == math.huge or z == -math.huge then return 1 end
  local s = 1 - erfc(math.abs(z) / SQRT2)
  if s < 0 then return 0 end
  return s
end

local function normal_cdf(x)
  if x >= 0 then return 1 - 0.5 * erfc(x / SQRT2) end
  return 0.5 * erfc(-x / SQRT2)
end

local function likelihood_step(dt, score, P)
  if dt.lc == 0 then dt.sh = score else dt.sh = dt.sh + (2 / (P.short + 1)) * (score - dt.sh) end
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
  local score = score_of(z, scored)
  local likelihood = 0.5
  if scored then likelihood = likelihood_step(dt, score, P) end
  local unusual
  if P.trigger_flag then unusual = flag == 1
  else unusual = likelihood >= P.lik_threshold or (P.score_threshold > 0 and score >= P.score_threshold) end
  return score, likelihood, episode_step(dt, unusual, score, likelihood, value, ts, now, P)
end
