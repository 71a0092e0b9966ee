--[[ event-ids: idempotency by event id, per device.
  The ids key is a zset: id -> when it may be applied again (ms).
  find_duplicates(key, events, now, ttl_ms): marks events[e].duplicate for an id applied within the id
    ttl, or repeated earlier in `events`; returns the duplicate event numbers and the fresh ids.
  remember_ids(key, ids, now, ttl_ms): records the fresh ids (and forgets expired ones).
]]
--- @include "chunked"

local function find_duplicates(key, events, now, ttl_ms)
  local duplicates, fresh, seen_here = {}, {}, {}
  for e = 1, #events do
    local ev = events[e]
    if ev.id ~= '' then
      local expires = seen_here[ev.id] or tonumber(redis.call('ZSCORE', key, ev.id))
      if expires and expires > now then
        ev.duplicate = true
        duplicates[#duplicates + 1] = e
      else
        seen_here[ev.id] = now + ttl_ms
        fresh[#fresh + 1] = ev.id
      end
    end
  end
  return duplicates, fresh
end

local function remember_ids(key, ids, now, ttl_ms)
  if #ids == 0 then return end
  local zadd = {}
  for i, id in ipairs(ids) do zadd[2 * i - 1] = now + ttl_ms; zadd[2 * i] = id end
  redis.call('ZREMRANGEBYSCORE', key, '-inf', now)
  call_chunked('ZADD', key, zadd, 1, #zadd)
  redis.call('PEXPIRE', key, ttl_ms)
end
