--[[ window-stats: mean and variance of a sliding window in O(1) per value, exact on demand.
  The state n, k, s1, s2, e1, e2 keeps shifted sums s1 = sum(x - k), s2 = sum((x - k)^2)
  over the n values of the window, with running bounds e1, e2 on their rounding error.
  One value x in: d = x - k, s1 += d, s2 += d*d, e1 += U*(|d| + |s1|), e2 += U*(3*d*d + |s2|), n += 1;
  out: the same with s1 -= d, s2 -= d*d, n -= 1.
  moments_of(n, k, s1, s2, e1, e2): mean and population variance, or nil when the error bounds are no
    longer small against the variance; the caller then calls stats_rebuild(values of the window),
    which recomputes exactly (corrected two-pass, as in shared/detector/reference.ts), makes the mean
    the new shift k, and returns k, s1, s2, e1, e2, mean and variance. Results stay within ~1e-10 of an
    exact recomputation.
  stats_slide(n, k, s1, s2, e1, e2, out, x): value out leaves (false: none) and x comes in; returns
    n, s1, s2, e1, e2, then what moments_of returns for them (the same arithmetic: one call per value
    where two were).
  moments_of and stats_slide take and return plain numbers, no table: the per-value loop keeps the sums
  in locals (in Redis's Lua a table field or a call costs about as much as the arithmetic around it).
]]

local stats_rebuild, moments_of, stats_slide
do
  local U = 2 ^ -53     -- unit roundoff of a double
  local TAU = 1e-10     -- largest relative error tolerated before an exact rebuild
  local abs, sqrt = math.abs, math.sqrt

  function stats_rebuild(vals)
    local cnt = #vals
    if cnt == 0 then return 0, 0, 0, 0, 0, 0, 0 end
    local lo, hi, sum = vals[1], vals[1], 0
    for t = 1, cnt do
      local v = vals[t]
      sum = sum + v
      if v < lo then lo = v elseif v > hi then hi = v end
    end
    if lo == hi then return lo, 0, 0, 0, 0, lo, 0 end
    local rough = sum / cnt
    local c, q = 0, 0
    for t = 1, cnt do
      local d = vals[t] - rough
      c = c + d; q = q + d * d
    end
    local mean = rough + c / cnt
    local var = (q - c * c / cnt) / cnt
    if var < 0 then var = 0 end
    local k, s1, s2, e1, e2 = mean, 0, 0, 0, 0
    for t = 1, cnt do
      local d = vals[t] - k
      local dd = d * d
      s1 = s1 + d; s2 = s2 + dd
      e1 = e1 + U * (abs(d) + abs(s1)); e2 = e2 + U * (3 * dd + s2)
    end
    return k, s1, s2, e1, e2, mean, var
  end

  function moments_of(n, k, s1, s2, e1, e2)
    local m1 = s1 / n
    local var = s2 / n - m1 * m1
    local err = e2 / n + 2 * abs(m1) * e1 / n + 4 * U * (s2 / n + m1 * m1)
    if err > TAU * var or (e1 > 0 and e1 / n > TAU * sqrt(var)) then return nil end
    return k + m1, var
  end

  function stats_slide(n, k, s1, s2, e1, e2, out, x)
    if out then
      local d = out - k
      s1, s2 = s1 - d, s2 - d * d
      e1 = e1 + U * (abs(d) + abs(s1)); e2 = e2 + U * (3 * d * d + abs(s2))
      n = n - 1
    end
    local d = x - k
    local dd = d * d
    s1, s2 = s1 + d, s2 + dd
    e1 = e1 + U * (abs(d) + abs(s1)); e2 = e2 + U * (3 * dd + abs(s2))
    n = n + 1
    local m1 = s1 / n
    local var = s2 / n - m1 * m1
    local err = e2 / n + 2 * abs(m1) * e1 / n + 4 * U * (s2 / n + m1 * m1)
    if err > TAU * var or (e1 > 0 and e1 / n > TAU * sqrt(var)) then return n, s1, s2, e1, e2 end
    return n, s1, s2, e1, e2, k + m1, var
  end
end
