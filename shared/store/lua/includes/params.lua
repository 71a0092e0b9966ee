--[[ params: the parameters of a record call (record.lua's header lists them), read once per call, and
  its settings parsed only when they differ from the last call's (a Redis Function keeps these locals
  between calls; the settings of a deployment rarely change).
  Offers these locals, set by params_read and only read after it:
    W (window size), THRESHOLD (z), MIN_SAMPLES, TTL (s), ANOMALY_CAP (a device's anomaly list), NOW (ms),
    FULL (reply mode "full"), ID_TTL_MS, RATE (events/s, 0 = off), BURST, RUNS (the number of runs),
    OUTBOX_CAP (entries kept in a device's outbox; 0 = no outbox), TRIGGER_BASELINE and TRIGGER_FLAG
    (the episode trigger; neither: "likelihood"), FLATLINE and WARM_UNTIL (trigger "likelihood": identical
    values in a row that are unusual, 0 = off; a flag is unusual while the series has seen fewer values),
    P (episode_step's: close_after, refractory), KEYS_PER_RUN (a run's keys before its metrics': its
    outbox key is sent only with an outbox, as a key that cannot be touched costs its caller to send),
    REFRESH_MS (1% of the TTL, ms: how old a series' expiry may get before it is pushed back).
  params_read(argv): sets them from argv (ARGV): the settings text argv[1] (when it changed; it hands
    the detection's own parameters to detection_setup and the baseline method's to baseline_setup),
    then now, reply mode and the number of runs. Returns where the runs start in argv.
]]
--- @include "detection"
--- @include "baseline"

local W, THRESHOLD, MIN_SAMPLES, TTL, ANOMALY_CAP, NOW, FULL, ID_TTL_MS, RATE, BURST, RUNS, OUTBOX_CAP
local TRIGGER_BASELINE, TRIGGER_FLAG, FLATLINE, WARM_UNTIL, P, KEYS_PER_RUN, REFRESH_MS

local params_read
do
  local settings_read -- the last settings text parsed

  -- The settings: their 27 words in record.lua's order (numbers, but the trigger).
  local function settings(text)
    local s = {}
    for word in string.gmatch(text, '%S+') do s[#s + 1] = tonumber(word) or word end
    W, THRESHOLD, MIN_SAMPLES, TTL, ANOMALY_CAP = s[1], s[2], s[3], s[4], s[5]
    ID_TTL_MS, RATE, BURST = s[6] * 1000, s[7], s[8]
    detection_setup(s[9], s[10], s[12], s[13])
    TRIGGER_BASELINE, TRIGGER_FLAG = s[11] == 'baseline', s[11] == 'flag'
    -- Trigger "baseline": its refractory period (in includes/baseline.lua) replaces the episode's.
    P = { close_after = s[14], refractory = TRIGGER_BASELINE and 0 or s[15] }
    FLATLINE, WARM_UNTIL, OUTBOX_CAP = s[16], s[3] + s[17], s[18]
    baseline_setup(s[19], s[20], s[21], s[22], s[23], s[24], s[25], s[26], s[27])
    KEYS_PER_RUN = OUTBOX_CAP > 0 and 8 or 7
    REFRESH_MS = TTL * 10
    settings_read = text
  end

  function params_read(argv)
    if argv[1] ~= settings_read then settings(argv[1]) end
    NOW, FULL, RUNS = tonumber(argv[2]), argv[3] == 'full', tonumber(argv[4])
    return 5
  end
end
