/**
 * The Redis key layout (before KEY_PREFIX, which ioredis prepends). Every key of one device carries the
 * hash tag `{<device>}`, so one script call may touch all of them on Redis Cluster too; device ids cannot
 * contain braces.
 */
export const keys = {
  seriesIndex: (device: string) => `dev:{${device}}:series`,
  /** list of the device's recent anomalies, packed (shared/store/anomaly-record.ts), newest first, capped. */
  deviceAnomalies: (device: string) => `dev:{${device}}:anomalies`,
  /** list of the device's alert episode ids (`<start ms>/<metric>`), newest opening first, capped. */
  deviceEpisodes: (device: string) => `dev:{${device}}:episodes`,
  /** hash: episode id → packed record (shared/store/episode-record.ts); a closing overwrites its opening. */
  deviceEpisodeRecords: (device: string) => `dev:{${device}}:episode`,
  /** stream: the device's alert episodes to deliver to K_SINK (record.lua appends, shared/outbox delivers). */
  outbox: (device: string) => `dev:{${device}}:outbox`,
  /** hash: failed deliveries of the outbox's entries (entry id → attempts) and `next`, when to try again (ms). */
  outboxRetries: (device: string) => `dev:{${device}}:outbox:retries`,
  /** string: which dispatcher holds the device's outbox now (so one delivers it, in order). */
  outboxLease: (device: string) => `dev:{${device}}:outbox:lease`,
  /** zset: event id → when it may be applied again (ms). */
  eventIds: (device: string) => `dev:{${device}}:ids`,
  /** hash: the device's rate-limit token bucket. */
  rateBucket: (device: string) => `dev:{${device}}:rate`,
  window: (device: string, metric: string) => `dev:{${device}}:w:${metric}`,
  /** hash: the states of the device's series, field `<metric>` (packed: shared/store/series-state.ts) and
   * `<metric>:h` (the baseline method's hours); a series whose state was refreshed longer than the TTL ago
   * has expired (record.lua drops its fields when it leaves the device's index). */
  deviceState: (device: string) => `dev:{${device}}:state`,
  /** zset: device → last write (ms); the index of known devices. The global keys share the hash
   * tag {global}, so the tally script updates them together on Redis Cluster too. */
  devices: '{global}:devices',
  /** hash: events, anomalies, episodes, and each per metric (`events:<metric>` …) over all devices; on
   * Redis Cluster, what was counted before the shards (record.lua counts into `totalsShard` there). */
  totals: '{global}:totals',
  /** hash like `totals`, on Redis Cluster: the counts of the devices of one hash slot, which record.lua
   * adds to in the same atomic call as their events (the tag lands on that slot: slot-tags.ts). */
  totalsShard: (tag: string) => `totals:{${tag}}`,
  /** set: the tags of the totals shards written so far (registered before their first record call). */
  totalsShards: '{global}:totals:shards',
  /** list of JSON anomalies over all devices, newest first, capped. */
  anomalies: '{global}:anomalies',
  /** list of alert episode ids over all devices (`<device>/<start ms>/<metric>`), newest opening first,
   * capped like the anomalies; their records in the hash `episodeRecords`. */
  episodes: '{global}:episodes',
  episodeRecords: '{global}:episode',
  /** zset: `device/metric` → when its keys' expiry was last pushed back (ms), as in the device's series
   * index: the series alive now are those scored within the TTL, counted without visiting devices. */
  series: '{global}:series',
  /** set: devices whose outbox may hold entries to deliver (the tally adds, the dispatcher removes). */
  outboxDevices: '{global}:outbox',
  /** stream: outbox entries given up after OUTBOX_MAX_ATTEMPTS failed deliveries, with the last error. */
  deadLetters: '{global}:outbox:dead',
} as const;

/** The member of `keys.series` for one series ('/' is in neither a device id nor a metric name). */
export const seriesMember = (device: string, metric: string) => `${device}/${metric}`;
