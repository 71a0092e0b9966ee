--[[ episode-notes: what a run notes of the alert episodes its values open or close, and their records.
  Episode records (a device's list, includes/episode-list.lua, and the global one through the tally)
  are 10 little-endian doubles, times in ms (decoded in shared/store/episode-record.ts): start, end
  (its last unusual value), value, score, likelihood (of the opening value), detected_at, peak_score,
  peak_value, peak_at, closed_at (0 while open; end and the peak are then not final). The device and
  metric are in the keys and ids ("<start ms>/<metric>").
  The outbox (includes/outbox.lua) carries them as JSON: device_id, metric, start, end (null while
  open), value, score, likelihood, detected_at, and once closed peak_score, peak_value, peak_at,
  closed_at. Times are whole ms below 10^14 (the event schema's), which Lua's own number-to-text
  conversion (%.14g) writes exactly and cheaper than num.
  A run stores each episode's record once, as it leaves it: an episode opened and closed by the same
  run is stored closed; a closing of an episode opened earlier overwrites its record (no search),
  unless the record has been trimmed away.
  episode_note(run, i, values, j, dt, step, z, avg, open): value j of metric i (values: the run's values
    of the metric, includes/runs.lua) opened (step 1) or closed (step 3) the episode of fields dt. Each
    episode has one entry in run.episodes ({ opened, closed: event numbers, false and 0 for none; metric,
    id, record }, as includes/episode-list.lua and the reply take them), whose record is built once, as
    the run leaves it: at its closing, or by the caller with episode_packed once the metric's values are
    done. open: the entry of the episode this run opened and has not closed yet, if any; returns the new
    one. With an outbox, every step is also queued in run.outbox with its own record and the z and
    rolling average of its value (includes/outbox.lua).
  episode_packed(dt, closed): the stored record of an episode, as it was opened or as it closed: one
    struct.pack, where JSON text costs a %.17g conversion per number.
]]
--- @include "detection"
--- @include "num"
--- @include "params"

local episode_packed, episode_note
do
  local RECORD = '<' .. string.rep('d', 10)

  -- The record as the outbox carries it (JSON): as it was opened, or as it closed.
  local function episode_json(run, i, dt, closed)
    local start, last, value, score, likelihood, at, peak, peak_value, peak_at = episode_fields(dt)
    local head = '{"device_id":"' .. run.device .. '","metric":"' .. run.names[i] .. '","start":' .. start .. ',"end":'
    local tail = ',"value":' .. num(value) .. ',"score":' .. num(score) .. ',"likelihood":' .. num(likelihood) ..
      ',"detected_at":' .. at
    if not closed then return head .. 'null' .. tail .. '}' end
    return head .. last .. tail .. ',"peak_score":' .. num(peak) .. ',"peak_value":' .. num(peak_value) ..
      ',"peak_at":' .. peak_at .. ',"closed_at":' .. NOW .. '}'
  end

  function episode_packed(dt, closed)
    local start, last, value, score, likelihood, at, peak, peak_value, peak_at = episode_fields(dt)
    return struct.pack(RECORD, start, last, value, score, likelihood, at, peak, peak_value, peak_at, closed and NOW or 0)
  end

  function episode_note(run, i, values, j, dt, step, z, avg, open)
    local e = open
    if step == 1 or not e then
      e = { opened = false, closed = 0, metric = i, id = (episode_fields(dt)) .. '/' .. run.names[i] }
      run.episodes[#run.episodes + 1] = e
    end
    if step == 1 then e.opened = values.events[j] else e.closed, e.record = values.events[j], episode_packed(dt, true) end
    if OUTBOX_CAP > 0 then
      run.outbox[#run.outbox + 1] = { step, e.id, episode_json(run, i, dt, step == 3), num(z), num(avg) }
    end
    return step == 1 and e or nil
  end
end
