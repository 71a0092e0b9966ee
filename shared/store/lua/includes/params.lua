--[[ params: the parameters of a record call, ARGV[1..30] (record.lua's header lists them), read once.
  Offers these locals, set by params_read and only read after it:
    W (window size), THRESHOLD (z), MIN_SAMPLES, TTL (s), ANOMALY_CAP (a device's anomaly list), NOW (ms),
    FULL (reply mode "full"), ID_TTL_MS, RATE (events/s, 0 = off), BURST, RUNS (the number of runs),
    OUTBOX_CAP (entries kept in a device's outbox; 0 = no outbox), TRIGGER_BASELINE and TRIGGER_FLAG
    (the episode trigger; neither: "likelihood"), FLATLINE and WARM_UNTIL (trigger "likelihood": identical
    values in a row that are unusual, 0 = off; a flag is unusual while the series has seen fewer values),
    P (episode_step's: close_after, refractory), KEYS_PER_RUN (a run's keys before its metrics': its
    outbox key is sent only with an outbox, as a key that cannot be touched costs its caller to send),
    REFRESH_MS (1% of the TTL, ms: how old a series' expiry may get before it is pushed back).
  params_read(argv): sets them from argv (ARGV); hands the detection's own parameters to detection_setup
    and the baseline method's to baseline_setup. Returns where the runs start in argv.
]]
--- @include "detection"
--- @include "baseline"

local W, THRESHOLD, MIN_SAMPLES, TTL, ANOMALY_CAP, NOW, FULL, ID_TTL_MS, RATE, BURST, RUNS, OUTBOX_CAP
local TRIGGER_BASELINE, TRIGGER_FLAG, FLATLINE, WARM_UNTIL, P, KEYS_PER_RUN, REFRESH_MS

local function params_read(argv)
  local n = tonumber
  W, THRESHOLD, MIN_SAMPLES, TTL, ANOMALY_CAP = n(argv[1]), n(argv[2]), n(argv[3]), n(argv[4]), n(argv[5])
  NOW, FULL, ID_TTL_MS, RATE, BURST, RUNS = n(argv[6]), argv[7] == 'full', n(argv[8]) * 1000, n(argv[9]), n(argv[10]), n(argv[11])
  detection_setup(n(argv[12]), n(argv[13]), n(argv[15]), n(argv[16]))
  TRIGGER_BASELINE, TRIGGER_FLAG = argv[14] == 'baseline', argv[14] == 'flag'
  -- Trigger "baseline": its refractory period (in includes/baseline.lua) replaces the episode's.
  P = { close_after = n(argv[17]), refractory = TRIGGER_BASELINE and 0 or n(argv[18]) }
  FLATLINE, WARM_UNTIL = n(argv[19]), n(argv[3]) + n(argv[20])
  OUTBOX_CAP = n(argv[21])
  baseline_setup(n(argv[22]), n(argv[23]), n(argv[24]), n(argv[25]), n(argv[26]), n(argv[27]), n(argv[28]), n(argv[29]), n(argv[30]))
  KEYS_PER_RUN = OUTBOX_CAP > 0 and 7 or 6
  REFRESH_MS = TTL * 10
  return 31
end
