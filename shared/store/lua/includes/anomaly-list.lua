--[[ anomaly-list: a device's recent anomalies, a list of packed records, newest first, capped.
  A record: 5 little-endian doubles, value, z (+-inf when the baseline has zero variance), avg,
  timestamp and detected_at (ms), then the metric's name (decoded in shared/store/anomaly-record.ts;
  the device is the key's). One struct.pack: JSON text would cost two %.17g conversions a record and
  three times the memory (the global list, written by the tally, keeps JSON with the device id).
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
  if not FULL then
    local reply = run.reply
    local r = #reply
    reply[r + 1] = values.events[j]; reply[r + 2] = i; reply[r + 3] = num(avg); reply[r + 4] = num(z)
  end
  run.found[#run.found + 1] = struct.pack('<ddddd', values.values[j], z, avg, tonumber(run.events[values.events[j]].ts), NOW) .. run.names[i]
end

local function anomalies_store(key, records, cap, ttl)
  call_chunked('LPUSH', key, records, 1, #records)
  redis.call('LTRIM', key, 0, cap - 1)
  redis.call('EXPIRE', key, ttl)
end
