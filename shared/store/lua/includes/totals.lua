--[[ totals: what a record call adds to the totals hash, counted in the same atomic call as the events.
  count_run(run, duplicates, totals): adds an applied run's events, values per metric, flagged values
    and episodes opened ("events", "events:<metric>", "anomalies", "anomalies:<metric>", "episodes",
    "episodes:<metric>") to the table totals (field -> increment).
  add_totals(key, totals): one HINCRBY per field.
  Counting here rather than in a later call means an event is counted if and only if it was stored:
  nothing can be lost between two calls (README, Faults).
]]
local function count_run(run, duplicates, totals)
  local function add(field, n)
    if n > 0 then totals[field] = (totals[field] or 0) + n end
  end
  add('events', #run.events - duplicates)
  for i, name in ipairs(run.names) do
    add('events:' .. name, #run.values[i].values)
    add('anomalies', run.flagged[i] or 0)
    add('anomalies:' .. name, run.flagged[i] or 0)
  end
  for _, e in ipairs(run.episodes) do
    if e.opened then
      add('episodes', 1)
      add('episodes:' .. run.names[e.metric], 1)
    end
  end
end

local function add_totals(key, totals)
  for field, n in pairs(totals) do redis.call('HINCRBY', key, field, n) end
end
