--[[ episode-list: a capped list of episode ids (newest opening first) and a hash of their records,
  as record.lua keeps one per device and tally.lua the global one.
  store_episodes(ids, records, cap, entries): entries in order, each { id, record, opened (boolean) }.
  The opened ids are pushed in order (the oldest beyond the cap leave, with their records), then
  every record goes in one HSET, in order (a later one of the same id wins); a record of an episode
  opened before is written only if it is still kept. A few calls, whatever the number of entries.
  Returns whether the list was made now (its expiry is the caller's).
]]
--- @include "chunked"

local function store_episodes(ids, records, cap, entries)
  local opened, gone, kept = {}, {}, {}
  for _, e in ipairs(entries) do
    if e.opened then opened[#opened + 1] = e.id end
  end
  local made = false
  if #opened > 0 then
    local len = call_chunked('LPUSH', ids, opened, 1, #opened)
    made = len == #opened
    if len > cap then
      local old = redis.call('RPOP', ids, len - cap)
      call_chunked('HDEL', records, old, 1, #old)
      for _, id in ipairs(old) do gone[id] = true end
    end
    for _, id in ipairs(opened) do if not gone[id] then kept[id] = true end end
  end
  local earlier = {}
  for _, e in ipairs(entries) do
    if not e.opened and not kept[e.id] and not gone[e.id] then earlier[#earlier + 1] = e.id end
  end
  for n, value in ipairs(hmget_chunked(records, earlier)) do if value then kept[earlier[n]] = true end end
  local fields = {}
  for _, e in ipairs(entries) do
    if kept[e.id] then fields[#fields + 1] = e.id; fields[#fields + 1] = e.record end
  end
  if #fields > 0 then call_chunked('HSET', records, fields, 1, #fields) end
  return made
end
