import { EPISODE_TRIGGERS, type EpisodeTrigger } from '../detector/params.js';
import { PROFILES, PROFILE_NAMES, type ProfileName } from '../detector/profiles.js';
import { anyText, between, ceOverrides, deviceIds, oneOf, hostPort, hostPorts, httpUrl, integer, matching, pemFile, positive, redisUrl, signingKeys, tokens } from './rules.js';
import type { Rule } from './rules.js';

/**
 * One environment variable: how it is read, its default, what it means, and where it goes. `key` names
 * its field of the Config (none: read only to derive another field); `echo` shows it in GET /stats.
 */
export interface Setting<T, K extends string | undefined = string | undefined> {
  readonly rule: Rule<T>;
  readonly fallback: T;
  /** The default as the configuration table states it (when the value alone would not say it well). */
  readonly shown?: string;
  readonly doc: string;
  readonly key: K;
  readonly echo?: boolean;
  /** An empty value is taken as it is rather than as "unset". */
  readonly allowEmpty?: boolean;
  /** Unset, it takes the value of the DETECTOR_PROFILE in force (the fallback is the default profile's). */
  readonly profiled?: boolean;
}

const setting = <T, const K extends string | undefined>(s: Setting<T, K>): Setting<T, K> => s;
/** The configuration table's default of a profiled setting: its value in each profile. */
const profiled = (key: keyof (typeof PROFILES)['default']) => PROFILE_NAMES.map((name) => `${name}: ${PROFILES[name][key]}`).join(', ');
const DAY = 24 * 3600;

/** Every setting of the service, each declared once; the configuration table (docs/operations.md) is made from this. */
export const SETTINGS = {
  PORT: setting({ key: 'port', rule: integer(1, 65535, '1–65535'), fallback: 0, shown: '8080', doc: 'HTTP port (`SERVER_PORT` is honoured when `PORT` is unset)' }),
  SERVER_PORT: setting({ key: undefined, rule: integer(1, 65535, '1–65535'), fallback: 0, shown: '—', doc: 'source-service fallback for `PORT`' }),
  REDIS_URL: setting({ key: 'redisUrl', rule: redisUrl(), fallback: '', shown: '`redis://127.0.0.1:6379`', doc: 'the Redis to use; `redis://:password@host:port/db`' }),
  REDIS_ADDR: setting({ key: undefined, rule: hostPort(), fallback: '', shown: '—', doc: 'source-service fallback, used when `REDIS_URL` is unset' }),
  REDIS_HOST: setting({ key: undefined, rule: matching(/^[^\s:/]*$/, 'host name', 'must be a host name'), fallback: '', shown: '—', doc: 'source-service fallback, used when `REDIS_URL` and `REDIS_ADDR` are unset' }),
  REDIS_PORT: setting({ key: undefined, rule: integer(1, 65535, '1–65535'), fallback: 6379, doc: 'source-service fallback, with `REDIS_HOST`' }),
  REDIS_PASSWORD: setting({ key: undefined, rule: anyText(), fallback: '', shown: '—', doc: 'source-service fallback, with `REDIS_HOST` or `REDIS_ADDR`; also the password of a cluster' }),
  REDIS_CLUSTER_NODES: setting({ key: 'redisClusterNodes', rule: hostPorts(), fallback: Object.freeze([]), shown: '—', doc: 'seed nodes of a Redis Cluster: when set, the cluster client is used (the password, if any, comes from `REDIS_URL` or `REDIS_PASSWORD`)' }),
  REDIS_TLS_CA_FILE: setting({ key: 'redisTlsCa', rule: pemFile(), fallback: undefined as string | undefined, shown: '— (the system CAs)', doc: 'CA certificates (PEM) that signed the Redis server certificate, for a `rediss://` server with a private CA; verification stays on' }),
  KEY_PREFIX: setting({ key: 'keyPrefix', rule: matching(/^[A-Za-z0-9_.:-]{0,64}$/, '≤ 64 of `[A-Za-z0-9_.:-]`', 'must be at most 64 characters of [A-Za-z0-9_.:-]'), fallback: 'iot:', shown: '`iot:`', allowEmpty: true, doc: 'prefix of every Redis key, to share one Redis between deployments' }),
  DETECTOR_PROFILE: setting({ key: 'detectorProfile', rule: oneOf(PROFILE_NAMES), fallback: 'default' as ProfileName, echo: true, doc: 'a documented set of detector parameters (docs/detection.md); each variable whose default names the profiles overrides its value' }),
  WINDOW_SIZE: setting({ key: 'windowSize', rule: integer(2, 10_000), fallback: PROFILES.default.windowSize, shown: profiled('windowSize'), profiled: true, echo: true, doc: 'values per rolling window' }),
  Z_THRESHOLD: setting({ key: 'zThreshold', rule: positive(), fallback: PROFILES.default.zThreshold, shown: profiled('zThreshold'), profiled: true, echo: true, doc: 'anomaly when \\|z\\| exceeds it' }),
  MIN_SAMPLES: setting({ key: 'minSamples', rule: integer(1, 10_000, 'integer 1–`WINDOW_SIZE`'), fallback: PROFILES.default.minSamples, shown: profiled('minSamples'), profiled: true, echo: true, doc: 'earlier values needed before anything is flagged or scored' }),
  LIKELIHOOD_SHORT: setting({ key: 'likelihoodShort', rule: integer(1, 10_000), fallback: PROFILES.default.likelihoodShort, shown: profiled('likelihoodShort'), profiled: true, echo: true, doc: 'span (values) of the short average of scores the likelihood judges' }),
  LIKELIHOOD_LONG: setting({ key: 'likelihoodLong', rule: integer(10, 1_000_000), fallback: PROFILES.default.likelihoodLong, shown: profiled('likelihoodLong'), profiled: true, echo: true, doc: "span (values) of the series' long-run score distribution; the likelihood is 0.5 for its first tenth" }),
  EPISODE_TRIGGER: setting({ key: 'episodeTrigger', rule: oneOf(EPISODE_TRIGGERS), fallback: PROFILES.default.episodeTrigger as EpisodeTrigger, shown: profiled('episodeTrigger'), profiled: true, echo: true, doc: "what opens an alert episode: the baseline method's alert (docs/detection.md), every run of flags (`flag`: for data like the source services' synthetic load), or the likelihood (or an extreme score)" }),
  EPISODE_LIKELIHOOD: setting({ key: 'episodeLikelihood', rule: between(0.5, 1), fallback: PROFILES.default.episodeLikelihood, shown: profiled('episodeLikelihood'), profiled: true, echo: true, doc: 'trigger `likelihood`: a likelihood this high is unusual' }),
  EPISODE_SCORE: setting({ key: 'episodeScore', rule: between(0, 1), fallback: PROFILES.default.episodeScore, shown: profiled('episodeScore'), profiled: true, echo: true, doc: 'trigger `likelihood`: a score this high is unusual too (0 = off)' }),
  EPISODE_CLOSE_AFTER: setting({ key: 'episodeCloseAfter', rule: integer(1, 100_000), fallback: PROFILES.default.episodeCloseAfter, shown: profiled('episodeCloseAfter'), profiled: true, echo: true, doc: 'usual values in a row that close an episode (trigger `baseline`: values on which none of its tests fires)' }),
  EPISODE_FLATLINE: setting({ key: 'episodeFlatline', rule: integer(0, 100_000), fallback: PROFILES.default.episodeFlatline, shown: profiled('episodeFlatline'), profiled: true, echo: true, doc: 'trigger `likelihood`: this many identical values in a row are unusual, unless the whole window is that value (0 = off)' }),
  EPISODE_WARMUP: setting({ key: 'episodeWarmup', rule: integer(0, 1_000_000), fallback: PROFILES.default.episodeWarmup, shown: profiled('episodeWarmup'), profiled: true, echo: true, doc: "trigger `likelihood`: for a series' first this many scored values, while its likelihood learns, the flag is unusual too (0 = off)" }),
  EPISODE_REFRACTORY: setting({ key: 'episodeRefractory', rule: integer(0, 100_000), fallback: PROFILES.default.episodeRefractory, shown: profiled('episodeRefractory'), profiled: true, echo: true, doc: 'triggers `flag` and `likelihood`: values after an episode closes during which none opens (trigger `baseline` has `BASELINE_REFRACTORY`)' }),
  BASELINE_LONG: setting({ key: 'baselineLong', rule: integer(2, 1_000_000), fallback: PROFILES.default.baselineLong, shown: profiled('baselineLong'), profiled: true, echo: true, doc: "trigger `baseline`: span (values) of the long-run mean and variance of a value's residual from its hour of the day" }),
  BASELINE_SHORT: setting({ key: 'baselineShort', rule: integer(1, 100_000), fallback: PROFILES.default.baselineShort, shown: profiled('baselineShort'), profiled: true, echo: true, doc: 'trigger `baseline`: span (values) of the short average of the residual that the level test judges' }),
  BASELINE_SPIKE_Z: setting({ key: 'baselineSpikeZ', rule: between(0, 1000), fallback: PROFILES.default.baselineSpikeZ, shown: profiled('baselineSpikeZ'), profiled: true, echo: true, doc: "trigger `baseline`: a residual this many long-run σ from its mean alerts (spike test; 0 = off)" }),
  BASELINE_LEVEL_Z: setting({ key: 'baselineLevelZ', rule: between(0, 1000), fallback: PROFILES.default.baselineLevelZ, shown: profiled('baselineLevelZ'), profiled: true, echo: true, doc: 'trigger `baseline`: a short average this many long-run σ from the mean alerts (level test; 0 = off)' }),
  BASELINE_REFRACTORY: setting({ key: 'baselineRefractory', rule: integer(0, 1_000_000), fallback: PROFILES.default.baselineRefractory, shown: profiled('baselineRefractory'), profiled: true, echo: true, doc: 'trigger `baseline`: values after an alert during which no new one opens' }),
  BASELINE_WARMUP: setting({ key: 'baselineWarmup', rule: integer(0, 1_000_000), fallback: PROFILES.default.baselineWarmup, shown: profiled('baselineWarmup'), profiled: true, echo: true, doc: "trigger `baseline`: a series' first this many values never alert" }),
  BASELINE_HOUR_SPAN: setting({ key: 'baselineHourSpan', rule: integer(0, 65_535), fallback: PROFILES.default.baselineHourSpan, shown: profiled('baselineHourSpan'), profiled: true, echo: true, doc: "trigger `baseline`: span (values) of each hour-of-day mean (UTC hour of the event time) a value's residual is taken from (0 = none: the value itself; at most 65,535: the counts are stored as 16-bit numbers)" }),
  BASELINE_FLAT_RUN: setting({ key: 'baselineFlatRun', rule: integer(0, 1_000_000), fallback: PROFILES.default.baselineFlatRun, shown: profiled('baselineFlatRun'), profiled: true, echo: true, doc: 'trigger `baseline`: this many identical values in a row alert (flatline test; 0 = off)…' }),
  BASELINE_FLAT_SHARE: setting({ key: 'baselineFlatShare', rule: between(0, 1), fallback: PROFILES.default.baselineFlatShare, shown: profiled('baselineFlatShare'), profiled: true, echo: true, doc: '…in a series whose values repeat their predecessor less than this share of the time' }),
  MAX_BATCH: setting({ key: 'maxBatch', rule: integer(1, 10_000), fallback: 1000, echo: true, doc: 'events per batch' }),
  MAX_INFLIGHT_BYTES: setting({ key: 'maxInflightBytes', rule: integer(1024, 1024 * 1024 * 1024), fallback: 4 * 1024 * 1024, shown: '4194304 (4 MiB)', echo: true, doc: "request bytes one process holds at once (a body's declared length; `MAX_BODY_BYTES` for a compressed or unsized one): beyond it a request waits up to `ADMISSION_WAIT_MS`, then is answered 503 `overloaded` with `Retry-After`. Memory grows with it (BENCHMARKS.md, Memory): set it from the pod's memory limit" }),
  ADMISSION_WAIT_MS: setting({ key: 'admissionWaitMs', rule: integer(0, 60_000), fallback: 1000, doc: 'how long a request waits for room under `MAX_INFLIGHT_BYTES` before it is refused' }),
  MAX_BODY_BYTES: setting({ key: 'maxBodyBytes', rule: integer(1024, 64 * 1024 * 1024), fallback: 1024 * 1024, echo: true, doc: 'largest request body, on every path of every function, as received and as decoded (a compressed body)' }),
  SERIES_TTL_SECONDS: setting({ key: 'seriesTtlSeconds', rule: integer(60, 10 * 365 * DAY), fallback: 7 * DAY, shown: '604800 (7 days)', echo: true, doc: "a device's keys expire after this long without events" }),
  RECENT_ANOMALIES: setting({ key: 'recentAnomalies', rule: integer(1, 10_000), fallback: 1000, echo: true, doc: 'length of the global list of recent anomalies' }),
  REDIS_COMMAND_TIMEOUT_MS: setting({ key: 'redisCommandTimeoutMs', rule: integer(10, 60_000), fallback: 1000, doc: 'a Redis command slower than this fails the request with 503' }),
  READY_MEMORY_HIGH: setting({ key: 'readyMemoryHigh', rule: between(0.5, 1), fallback: 0.95, doc: 'share of Redis `maxmemory` (with `noeviction`) from which ingest and the all-in-one target are not ready (503 `store_full`), before Redis refuses writes' }),
  READY_MEMORY_LOW: setting({ key: 'readyMemoryLow', rule: between(0.5, 1, 'number 0.5–1, below `READY_MEMORY_HIGH`'), fallback: 0.9, doc: 'they are ready again only once Redis memory is back below this share of `maxmemory` (no flapping at the edge)' }),
  PUSHGATEWAY_URL: setting({ key: 'pushgatewayUrl', rule: httpUrl(), fallback: undefined as string | undefined, shown: '— (no push)', doc: 'where the served function pushes its metrics' }),
  PUSH_INTERVAL_MS: setting({ key: 'pushIntervalMs', rule: integer(100, 3_600_000), fallback: 5000, doc: 'how often it pushes' }),
  METRICS_DEVICES: setting({ key: 'metricsDevices', rule: deviceIds(100), fallback: Object.freeze(['default']), shown: '`default`', doc: 'devices whose series the stats and all-in-one targets export as gauges' }),
  METRICS_TOP_DEVICES: setting({ key: 'metricsTopDevices', rule: integer(0, 100), fallback: 10, doc: 'those targets also export the devices with the most anomalies in the recent list (`RECENT_ANOMALIES`), as `iot_device_recent_anomalies` and with their series gauges (0 = off)' }),
  HOSTNAME: setting({ key: 'instance', rule: anyText(), fallback: '', shown: 'the host name', doc: 'the `instance` label of the pushed metrics (the pod name on Kubernetes)' }),
  IDEMPOTENCY_TTL_SECONDS: setting({ key: 'idempotencyTtlSeconds', rule: integer(1, 30 * DAY), fallback: DAY, doc: 'how long an event id is remembered' }),
  RATE_LIMIT_PER_DEVICE: setting({ key: 'rateLimitPerDevice', rule: positive(), fallback: 0, shown: '— (off)', doc: 'events per second per device' }),
  RATE_LIMIT_BURST: setting({ key: 'rateLimitBurst', rule: integer(1, 1_000_000), fallback: 0, shown: '10 × the rate', doc: "events a device may send at once (a device's part of one request must fit)" }),
  INGEST_TOKENS: setting({ key: 'ingestTokens', rule: tokens(), fallback: Object.freeze([]) as readonly string[], shown: '— (open)', doc: 'bearer tokens accepted by ingest' }),
  DEVICE_TOKEN_KEYS: setting({ key: 'deviceTokenKeys', rule: signingKeys(), fallback: Object.freeze([]) as ReadonlyArray<{ id: string; secret: string }>, shown: '— (no device tokens)', doc: 'keys that sign device tokens (`npm run token`): the first signs, all verify (two during a rotation); a device token writes its own device only' }),
  READ_TOKENS: setting({ key: 'readTokens', rule: tokens(), fallback: Object.freeze([]) as readonly string[], shown: '— (open)', doc: 'bearer tokens accepted by analyze, stats and `/metrics`' }),
  K_SINK: setting({ key: 'sinkUrl', rule: httpUrl(), fallback: undefined as string | undefined, shown: '— (no anomaly events)', doc: 'where alert episodes are delivered as CloudEvents (a Knative SinkBinding sets it); with it, record calls write each device\'s outbox and ingest delivers it (docs/api.md, Anomaly events)' }),
  K_CE_OVERRIDES: setting({ key: 'ceOverrides', rule: ceOverrides(), fallback: Object.freeze({}) as Readonly<Record<string, string>>, shown: '—', doc: 'extension attributes added to every anomaly event (a SinkBinding sets it)' }),
  OUTBOX_MAX_LENGTH: setting({ key: 'outboxMaxLength', rule: integer(10, 1_000_000), fallback: 1000, doc: "entries a device's outbox keeps: past it (the sink down for long), its oldest undelivered entries leave" }),
  OUTBOX_MAX_ATTEMPTS: setting({ key: 'outboxMaxAttempts', rule: integer(1, 1000), fallback: 8, doc: 'failed deliveries of one anomaly event before it is dead-lettered' }),
  OUTBOX_LEASE_MS: setting({ key: 'outboxLeaseMs', rule: integer(1000, 600_000), fallback: 10_000, doc: "how long one dispatcher holds a device's outbox: a pod that dies delays that device's events by at most this; a delivery times out after a quarter of it" }),
  OUTBOX_RETRY_MS: setting({ key: 'outboxRetryMs', rule: integer(10, 600_000), fallback: 1000, doc: 'wait after a failed delivery; it doubles with each failure of the same event, up to 5 minutes' }),
};
