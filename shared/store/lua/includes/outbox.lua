--[[ outbox: a device's outbox, the stream of its episode steps to deliver (shared/outbox/dispatcher.ts
  delivers them). With an outbox (its cap in the settings > 0), every episode opened or closed is appended in the same
  atomic call as the state it reports, so that an event to deliver cannot be lost between the two.
  Fields: step (1 opened, 3 closed), id, the record as that step left it (JSON, includes/episode-notes.lua),
  z and avg of the value that opened or closed it. The consumer group "dispatch" is made with the
  stream, from its start.
  outbox_append(key, entries, cap, ttl): appends entries ({step, id, record, z, avg}, in order), keeps
    about cap entries (MAXLEN ~), and pushes the stream's expiry back.
]]

local function outbox_append(key, entries, cap, ttl)
  if redis.call('EXISTS', key) == 0 then redis.call('XGROUP', 'CREATE', key, 'dispatch', '0', 'MKSTREAM') end
  for _, o in ipairs(entries) do
    redis.call('XADD', key, 'MAXLEN', '~', cap, '*', 'step', o[1], 'id', o[2], 'record', o[3], 'z', o[4], 'avg', o[5])
  end
  redis.call('EXPIRE', key, ttl)
end
