--[[ runs: a record call's runs, as offsets into its arguments, and their values by metric.
  A run in the arguments: device id, M, M metric names, E, then per event: timestamp (ms), id ("" for
  none), k, then k pairs (metric number 1..M, value as text); its keys: keys_per_run of the device, then
  one per metric (record.lua's header lists them).
  parse_run(argv, a, k, keys_per_run): the run whose arguments start at argv[a] and keys at KEYS[k], as
    { device, names (the M metric names), events (per event: ts and id as texts, k, and at, where its
    pairs start in argv), keys (k) }; then where the next run's arguments and keys start.
  split_by_metric(run, argv): sets run.values[i], the values of metric i of the run's events that are
    not marked duplicate, in input order: { values (numbers), texts, events (event numbers), slots
    (positions among all the run's applied values, for the reply) }.
]]

local function parse_run(argv, a, k, keys_per_run)
  local run = { device = argv[a], names = {}, events = {}, keys = k }
  local M = tonumber(argv[a + 1])
  for i = 1, M do run.names[i] = argv[a + 1 + i] end
  a = a + 2 + M
  local E = tonumber(argv[a]); a = a + 1
  for e = 1, E do
    local ev = { ts = argv[a], id = argv[a + 1], k = tonumber(argv[a + 2]), at = a + 3 }
    a = a + 3 + 2 * ev.k
    run.events[e] = ev
  end
  return run, a, k + keys_per_run + M
end

local function split_by_metric(run, argv)
  run.values = {}
  for i = 1, #run.names do run.values[i] = { values = {}, texts = {}, events = {}, slots = {} } end
  local slot = 0
  for e = 1, #run.events do
    local ev = run.events[e]
    if not ev.duplicate then
      for p = 0, ev.k - 1 do
        local values = run.values[tonumber(argv[ev.at + 2 * p])]
        local text = argv[ev.at + 2 * p + 1]
        slot = slot + 1
        local j = #values.values + 1
        values.values[j] = tonumber(text); values.texts[j] = text; values.events[j] = e; values.slots[j] = slot
      end
    end
  end
end
