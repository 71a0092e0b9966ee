/**
 * The Redis key layout (before KEY_PREFIX, which ioredis prepends). Every key of one device carries the
 * hash tag `{<device>}`, so one script call may touch all of them on Redis Cluster too; device ids cannot
 * contain braces. The three global keys are written by plain commands next to the script calls.
 */
export const keys = {
  seriesIndex: (device: string) => `dev:{${device}}:series`,
  counters: (device: string) => `dev:{${device}}:counters`,
  deviceAnomalies: (device: string) => `dev:{${device}}:anomalies`,
  window: (device: string, metric: string) => `dev:{${device}}:w:${metric}`,
  state: (device: string, metric: string) => `dev:{${device}}:s:${metric}`,
  /** zset: device → last write (ms); the index of known devices. */
  devices: 'devices',
  /** hash: events, anomalies, events:<metric>, anomalies:<metric> over all devices. */
  totals: 'totals',
  /** list of JSON anomalies over all devices, newest first, capped. */
  anomalies: 'anomalies',
} as const;
