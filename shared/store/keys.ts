/**
 * The Redis key layout (before KEY_PREFIX, which ioredis prepends). Every key of one device carries the
 * hash tag `{<device>}`, so one script call may touch all of them on Redis Cluster too; device ids cannot
 * contain braces.
 */
export const keys = {
  seriesIndex: (device: string) => `dev:{${device}}:series`,
  deviceAnomalies: (device: string) => `dev:{${device}}:anomalies`,
  /** list of JSON alert episodes of the device, newest first (shared/store/episode-record.ts). */
  deviceEpisodes: (device: string) => `dev:{${device}}:episodes`,
  /** zset: event id → when it may be applied again (ms). */
  eventIds: (device: string) => `dev:{${device}}:ids`,
  /** hash: the device's rate-limit token bucket. */
  rateBucket: (device: string) => `dev:{${device}}:rate`,
  window: (device: string, metric: string) => `dev:{${device}}:w:${metric}`,
  state: (device: string, metric: string) => `dev:{${device}}:s:${metric}`,
  /** zset: device → last write (ms); the index of known devices. The global keys share the hash
   * tag {global}, so the tally script updates them together on Redis Cluster too. */
  devices: '{global}:devices',
  /** hash: events, anomalies, events:<metric>, anomalies:<metric> over all devices. */
  totals: '{global}:totals',
  /** list of JSON anomalies over all devices, newest first, capped. */
  anomalies: '{global}:anomalies',
  /** list of JSON alert episodes over all devices, newest first by opening, capped like the anomalies. */
  episodes: '{global}:episodes',
  /** zset: `device/metric` → when its keys' expiry was last pushed back (ms), as in the device's series
   * index: the series alive now are those scored within the TTL, counted without visiting devices. */
  series: '{global}:series',
} as const;

/** The member of `keys.series` for one series ('/' is in neither a device id nor a metric name). */
export const seriesMember = (device: string, metric: string) => `${device}/${metric}`;
