--[[ anomaly-list: a device's recent anomalies, a list of JSON records, newest first, capped.
  A record has times in ms, in the format the tally writes to the global list: device_id, metric,
  value, zscore (null when infinite), avg, timestamp, detected_at. It is built by concatenation, which
  is safe: the device id and metric names passed the event schema (characters [A-Za-z0-9_.:-] and
  [a-z0-9_], nothing JSON must escape), and values, avg and z are number texts (JavaScript's
  String(number) or %.17g); cjson would round numbers to 14 digits.
  anomaly_note(run, i, values, j, avg, z): flagged value j of metric i (values: the run's values of the
    metric, includes/runs.lua) adds its record to run.found and, in mode "anomalies", its reply entry
    (event number, metric number, avg, z as %.17g text) to run.reply.
  anomalies_store(key, records, cap, ttl): pushes a run's records (oldest first), keeps the newest cap,
    and pushes the list's expiry back.
]]
--- @include "chunked"
--- @include "num"
--- @include "params"

local function anomaly_note(run, i, values, j, avg, z)
  local ztext, avgtext = num(z), num(avg)
  if not FULL then
    local reply = run.reply
    local r = #reply
    reply[r + 1] = values.events[j]; reply[r + 2] = i; reply[r + 3] = avgtext; reply[r + 4] = ztext
  end
  local zjson = (z == math.huge or z == -math.huge) and 'null' or ztext
  run.found[#run.found + 1] = '{"device_id":"' .. run.device .. '","metric":"' .. run.names[i] .. '","value":' ..
    values.texts[j] .. ',"zscore":' .. zjson .. ',"avg":' .. avgtext .. ',"timestamp":' ..
    run.events[values.events[j]].ts .. ',"detected_at":' .. NOW .. '}'
end

local function anomalies_store(key, records, cap, ttl)
  call_chunked('LPUSH', key, records, 1, #records)
  redis.call('LTRIM', key, 0, cap - 1)
  redis.call('EXPIRE', key, ttl)
end
