--[[ record: apply runs of events to their devices' series and anomaly lists, atomically per run (and for
  the whole call), each after its device's rate limit and idempotency check. One call carries the runs of
  many devices: its price is paid once, not once per device. Encoded and decoded by
  shared/store/record-script.ts only.

  ARGV[1] the settings, 27 words separated by spaces (the same for every call of a deployment; parsed
  only when they change, includes/params.lua): window size W, z threshold, min samples, ttl (s), cap
  of a device's anomaly list, id ttl (s), rate limit (events/s, 0 = off), burst; the detection's
  likelihood short span, long span, episode trigger ("baseline", "flag" or "likelihood"), likelihood
  threshold, score threshold (0 = off), usual values that close an episode, refractory values
  (triggers "flag" and "likelihood"), identical values in a row that are unusual (0 = off), scored
  values of a series during which the flag is unusual too (trigger "likelihood"; 0 = off); entries
  kept in a device's outbox stream (0 = no outbox: no sink is configured); trigger "baseline"
  (includes/baseline.lua): long span, short span, spike z, level z, refractory values, warm-up values,
  hour-of-day span, flatline run, flatline share
  ARGV[2] now (ms)   ARGV[3] reply mode   ARGV[4] R, the number of runs
  then per run: device id, M, M metric names, E, then per event: timestamp (ms), id ("" for none), k,
  then k pairs (metric number 1..M, value as text).
  KEYS, per run in the same order: series index of the device (zset: metric -> time its keys' expiry was
  last refreshed, ms), recent anomalies of the device (list of packed records, newest first), event ids seen (zset:
  id -> expiry, ms), rate-limit bucket (hash: tokens, at), the device's recent episodes (list of
  episode ids, newest opening first) and their records (hash: episode id -> packed record),
  the states of the device's series (hash: metric -> packed state, includes/series-state.lua), with an
  outbox (its cap > 0) the device's outbox (stream, consumer group "dispatch"), then per metric its
  window list; and last, after every run's keys, the totals hash that the call's applied
  events, values, flagged values and episodes opened are added to (includes/totals.lua): the global
  one on a single Redis, on Redis Cluster the totals shard of the slot all the call's devices share.
  Two runs may name the same device: they apply one after the other, as two calls would.
  It runs as a Redis Function (FCALL) registered without flags, so Redis refuses the whole call before it
  runs when it is at maxmemory with noeviction (OOM), rather than at its first write: a refused call has
  written nothing.

  Returns one reply per run, in order:
  {"limited", retry after (ms)} when the bucket cannot take the run's new events (nothing written);
  {"error", message} when a command failed (the run stops there; later runs still apply);
  else {"ok", D, the D duplicate event numbers, then the values: reply mode "full" -> one string, per
     applied value in input order 33 bytes packed little-endian (struct "<ddddB"): avg, z, the likelihood's
     d and variance (0, 0 while it learns), then bits: 1 anomaly, 2 scored (baseline of MIN_SAMPLES),
     4 * the episode step (0 none, 1 opened, 2 open, 3 closed) -- the score and likelihood are computed
     from these by the caller (shared/store/record-script.ts), where the special functions cost no
     Redis time; mode "anomalies" -> only anomalous values: event number, metric number, avg, z; then per
     episode the run opened or closed (or both), in order of its first step: the number of the event
     that opened it (0: opened before this run), of the event that closed it (0: still open), metric
     number, its record as the run leaves it, its id ("<start ms>/<metric>"); then X, their number;
     then the numbers of the F metrics whose expiry was refreshed (at `now`), and last F}.
  In mode "anomalies", avg and z are "%.17g" text; z is "inf" or "-inf" when the baseline has zero variance.
  An event whose id was applied within the id ttl (or earlier in this run) is a duplicate: not applied.

  The device's state hash: includes/series-state.lua has its layout. Episode records and their JSON
  in the outbox: includes/episode-notes.lua; the outbox stream: includes/outbox.lua; anomaly records:
  includes/anomaly-list.lua. The device's episode list and records expire with its series: their
  expiry is set when the list is made and whenever the run refreshes the expiry of a series.

  Cost: every redis.call has a fixed price, so a metric takes RPUSH and LPOP (once the window is full),
  and a run one HMGET and one HSET of its metrics' packed states. Expiry is refreshed only when the last refresh is older than 1%
  of the TTL. The functions are made once, when the library is loaded; each include keeps its private
  locals in a do ... end block, so other files see only what the include's header offers. Includes take
  KEYS and ARGV only as arguments.
]]
--- @include "chunked"
--- @include "params"
--- @include "runs"
--- @include "event-ids"
--- @include "token-bucket"
--- @include "apply-values"
--- @include "anomaly-list"
--- @include "episode-list"
--- @include "outbox"
--- @include "totals"
--- @include "series-state"

-- The call's keys and arguments: set by main, read by the functions below (a Redis Function gets them as
-- arguments, not as the globals of EVAL).
local KEYS, ARGV

-- The reply of an applied run (see the header), after its duplicates and, in mode "anomalies", its values.
local function finish_reply(run)
  local reply = run.reply
  if FULL then reply[#reply + 1] = table.concat(run.packed) end
  for _, e in ipairs(run.episodes) do
    local r = #reply
    reply[r + 1] = e.opened or 0; reply[r + 2] = e.closed; reply[r + 3] = e.metric; reply[r + 4] = e.record; reply[r + 5] = e.id
  end
  reply[#reply + 1] = #run.episodes
  -- Last: the refreshed metric numbers, then their count.
  for _, i in ipairs(run.refreshed) do reply[#reply + 1] = i end
  reply[#reply + 1] = #run.refreshed
  return reply
end

local function apply_run(run)
  local k = run.keys
  local duplicates, fresh_ids = find_duplicates(KEYS[k + 2], run.events, NOW, ID_TTL_MS)
  -- The run takes one token per applied event, or nothing at all.
  if RATE > 0 and #run.events > #duplicates then
    local wait = take_tokens(KEYS[k + 3], #run.events - #duplicates, RATE, BURST, NOW)
    if wait then return { 'limited', wait } end
  end
  remember_ids(KEYS[k + 2], fresh_ids, NOW, ID_TTL_MS)

  run.reply = { 'ok', #duplicates }
  for i, e in ipairs(duplicates) do run.reply[2 + i] = e end
  run.found, run.refreshed, run.episodes, run.packed, run.outbox, run.flagged = {}, {}, {}, {}, {}, {}
  run.duplicates = #duplicates
  split_by_metric(run, ARGV)
  -- Each metric with values: through its series, then, when due, its window's expiry pushed back; the
  -- states are read in one HMGET and written in one HSET. The index score is the refresh time, so an
  -- index entry and its series expire together (score + TTL; the state hash by its refresh time).
  local skey, at = KEYS[k + 6], k + KEYS_PER_RUN - 1
  local states, zadd = series_states(skey, run), {}
  run.fields = {}
  for i = 1, #run.names do
    if #run.values[i].values > 0 and apply_values(run, i, KEYS[at + i], skey, states[i]) then
      redis.call('EXPIRE', KEYS[at + i], TTL)
      zadd[#zadd + 1] = NOW; zadd[#zadd + 1] = run.names[i]
      run.refreshed[#run.refreshed + 1] = i
    end
  end
  if #run.fields > 0 then call_chunked('HSET', skey, run.fields, 1, #run.fields) end

  if #run.found > 0 then anomalies_store(KEYS[k + 1], run.found, ANOMALY_CAP, TTL) end
  local made = #run.episodes > 0 and store_episodes(KEYS[k + 4], KEYS[k + 5], ANOMALY_CAP, run.episodes)
  if #run.outbox > 0 then outbox_append(KEYS[k + 7], run.outbox, OUTBOX_CAP, TTL) end
  if #run.refreshed > 0 then
    call_chunked('ZADD', KEYS[k], zadd, 1, #zadd)
    series_expired(KEYS[k], skey, NOW, TTL)
    redis.call('EXPIRE', KEYS[k], TTL)
    redis.call('EXPIRE', skey, TTL)
  end
  if #run.refreshed > 0 or made then
    redis.call('EXPIRE', KEYS[k + 4], TTL)
    redis.call('EXPIRE', KEYS[k + 5], TTL)
  end
  return finish_reply(run)
end

-- The call: registered as a Redis Function (shared/store/functions.ts), so what is above is made once,
-- when the library is loaded, and a call runs only this.
local function main(keys, argv)
  KEYS, ARGV = keys, argv
  local a = params_read(ARGV)
  local replies, totals, k = {}, {}, 1
  for r = 1, RUNS do
    local run
    run, a, k = parse_run(ARGV, a, k, KEYS_PER_RUN)
    local ok, result = pcall(apply_run, run)
    if not ok then result = { 'error', type(result) == 'table' and result.err or tostring(result) }
    elseif result[1] == 'ok' then count_run(run, run.duplicates, totals) end
    replies[r] = result
  end
  add_totals(KEYS[#KEYS], totals)
  return replies
end
