--[[ totals: what a record call adds to the totals hash, counted in the same atomic call as the events.
  count_run(run, duplicates, totals): adds an applied run's events, values per metric, flagged values
    and episodes opened ("events", "events:<metric>", "anomalies", "anomalies:<metric>", "episodes",
    "episodes:<metric>") to the table totals (field -> increment); nothing for zero.
  add_totals(key, totals): one HINCRBY per field.
  Counting here rather than in a later call means an event is counted if and only if it was stored:
  nothing can be lost between two calls (docs/operations.md, Faults).
]]

local count_run, add_totals
do
  local function add_total(totals, field, n)
    totals[field] = (totals[field] or 0) + n
  end

  function count_run(run, duplicates, totals)
    local events = #run.events - duplicates
    if events == 0 then return end
    add_total(totals, 'events', events)
    for i, name in ipairs(run.names) do
      local values, flagged = #run.values[i].values, run.flagged[i] or 0
      if values > 0 then add_total(totals, 'events:' .. name, values) end
      if flagged > 0 then
        add_total(totals, 'anomalies', flagged)
        add_total(totals, 'anomalies:' .. name, flagged)
      end
    end
    for _, e in ipairs(run.episodes) do
      if e.opened then
        add_total(totals, 'episodes', 1)
        add_total(totals, 'episodes:' .. run.names[e.metric], 1)
      end
    end
  end

  function add_totals(key, totals)
    for field, n in pairs(totals) do redis.call('HINCRBY', key, field, n) end
  end
end
