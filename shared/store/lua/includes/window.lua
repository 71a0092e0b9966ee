--[[ window: a series' recent values (list of their texts, oldest first, w of them once full) and the
  sums kept over them (includes/window-stats.lua).
  window_append(key, texts, values, w, n, stored_w, k, s1, s2, e1, e2): appends a run's values (texts,
    and the same as numbers) and drops those that leave beyond w: RPUSH answers the new length, LPOP
    the values that leave, oldest first. Returns len, the length before; at(idx), which reads position
    idx of the sequence old ++ new (the rest of the window is fetched only when a rebuild needs it);
    then the sums as the run starts, from the state's (n values, window size stored_w): rebuilt from
    the window when they do not describe it, a window longer than w (WINDOW_SIZE was lowered) losing
    its oldest values before anything else: the number of values so lost, then n, k, s1, s2, e1, e2.
  window_rebuild(at, last, n): stats_rebuild of the n values ending at position last of old ++ new.
]]
--- @include "chunked"
--- @include "window-stats"

local function window_rebuild(at, last, n)
  local vals = {}
  for idx = last - n + 1, last do vals[#vals + 1] = at(idx) end
  return stats_rebuild(vals)
end

local function window_append(key, texts, values, w, n, stored_w, k, s1, s2, e1, e2)
  local count = #values
  local total = call_chunked('RPUSH', key, texts, 1, count)
  local len = total - count
  local leaving = total > w and redis.call('LPOP', key, total - w) or {}
  local rest
  local function at(idx)
    if idx > len then return values[idx - len] end
    if idx <= #leaving then return tonumber(leaving[idx]) end
    if not rest then rest = redis.call('LRANGE', key, 0, -1) end
    return tonumber(rest[idx - #leaving])
  end
  local skip = len > w and len - w or 0
  local stale = len ~= n or stored_w ~= w
  n = len - skip
  if stale and n > 0 then k, s1, s2, e1, e2 = window_rebuild(at, len, n) end
  if n == 0 then k, s1, s2, e1, e2 = values[1], 0, 0, 0, 0 end
  return len, at, skip, n, k, s1, s2, e1, e2
end
