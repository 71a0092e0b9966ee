import { hostname } from 'node:os';
import { z } from 'zod';

/** Every setting of the service, read once from the environment and frozen. */
export interface Config {
  readonly port: number;
  readonly redisUrl: string;
  /** Redis Cluster seed nodes; when any, the cluster client is used and redisUrl only lends its password. */
  readonly redisClusterNodes: ReadonlyArray<{ host: string; port: number }>;
  readonly keyPrefix: string;
  readonly windowSize: number;
  readonly zThreshold: number;
  readonly minSamples: number;
  readonly maxBatch: number;
  readonly maxBodyBytes: number;
  readonly seriesTtlSeconds: number;
  readonly recentAnomalies: number;
  readonly redisCommandTimeoutMs: number;
  readonly pushgatewayUrl: string | undefined;
  readonly pushIntervalMs: number;
  readonly metricsDevices: readonly string[];
  readonly instance: string;
  readonly idempotencyTtlSeconds: number;
  /** Events per second per device; 0 when rate limiting is off. */
  readonly rateLimitPerDevice: number;
  readonly rateLimitBurst: number;
  /** Bearer tokens accepted by ingest; empty: no authentication. */
  readonly ingestTokens: readonly string[];
  /** Bearer tokens accepted by analyze, stats and /metrics; empty: no authentication. */
  readonly readTokens: readonly string[];
}

const int = (name: string, min: number, max: number, fallback: number) =>
  z
    .string()
    .optional()
    .transform((raw, ctx) => {
      if (raw === undefined || raw === '') return fallback;
      const value = Number(raw);
      if (!/^-?\d+$/.test(raw.trim()) || !Number.isSafeInteger(value) || value < min || value > max) {
        ctx.addIssue({ code: 'custom', message: `${name} must be an integer from ${min} to ${max} (got "${raw}")` });
        return z.NEVER;
      }
      return value;
    });

const positiveNumber = (name: string, fallback: number) =>
  z
    .string()
    .optional()
    .transform((raw, ctx) => {
      if (raw === undefined || raw === '') return fallback;
      const value = Number(raw);
      if (raw.trim() === '' || !Number.isFinite(value) || value <= 0) {
        ctx.addIssue({ code: 'custom', message: `${name} must be a number greater than 0 (got "${raw}")` });
        return z.NEVER;
      }
      return value;
    });

const tokens = (name: string) =>
  z
    .string()
    .optional()
    .transform((raw, ctx) => {
      const list = (raw ?? '').split(',').map((t) => t.trim()).filter(Boolean);
      if (list.some((t) => t.length < 16 || /\s/.test(t))) {
        ctx.addIssue({ code: 'custom', message: `${name} must be a comma-separated list of tokens of at least 16 characters` });
        return z.NEVER;
      }
      return list;
    });

const redisUrl = (name: string) =>
  z
    .string()
    .optional()
    .refine((raw) => raw === undefined || raw === '' || /^rediss?:\/\/[^\s]+$/.test(raw), {
      message: `${name} must be a redis:// or rediss:// URL`,
    });

const Env = z.object({
  PORT: int('PORT', 1, 65535, 0),
  SERVER_PORT: int('SERVER_PORT', 1, 65535, 0),
  REDIS_URL: redisUrl('REDIS_URL'),
  REDIS_ADDR: z
    .string()
    .optional()
    .refine((raw) => raw === undefined || raw === '' || /^[^\s:/]+:\d{1,5}$/.test(raw), {
      message: 'REDIS_ADDR must be host:port',
    }),
  REDIS_HOST: z
    .string()
    .optional()
    .refine((raw) => raw === undefined || /^[^\s:/]*$/.test(raw), { message: 'REDIS_HOST must be a host name' }),
  REDIS_PORT: int('REDIS_PORT', 1, 65535, 6379),
  REDIS_PASSWORD: z.string().optional(),
  REDIS_CLUSTER_NODES: z
    .string()
    .optional()
    .refine((raw) => raw === undefined || raw === '' || raw.split(',').every((n) => /^[^\s:/]+:\d{1,5}$/.test(n.trim())), {
      message: 'REDIS_CLUSTER_NODES must be a comma-separated list of host:port',
    }),
  KEY_PREFIX: z
    .string()
    .optional()
    .refine((raw) => raw === undefined || /^[A-Za-z0-9_.:-]{0,64}$/.test(raw), {
      message: 'KEY_PREFIX must be at most 64 characters of [A-Za-z0-9_.:-]',
    }),
  WINDOW_SIZE: int('WINDOW_SIZE', 2, 10_000, 50),
  Z_THRESHOLD: positiveNumber('Z_THRESHOLD', 2.0),
  MIN_SAMPLES: int('MIN_SAMPLES', 1, 10_000, 10),
  MAX_BATCH: int('MAX_BATCH', 1, 10_000, 1000),
  MAX_BODY_BYTES: int('MAX_BODY_BYTES', 1024, 64 * 1024 * 1024, 1024 * 1024),
  SERIES_TTL_SECONDS: int('SERIES_TTL_SECONDS', 60, 10 * 365 * 24 * 3600, 7 * 24 * 3600),
  RECENT_ANOMALIES: int('RECENT_ANOMALIES', 1, 10_000, 1000),
  REDIS_COMMAND_TIMEOUT_MS: int('REDIS_COMMAND_TIMEOUT_MS', 10, 60_000, 1000),
  PUSHGATEWAY_URL: z
    .string()
    .optional()
    .refine((raw) => raw === undefined || raw === '' || /^https?:\/\/[^\s]+$/.test(raw), {
      message: 'PUSHGATEWAY_URL must be an http:// or https:// URL',
    }),
  PUSH_INTERVAL_MS: int('PUSH_INTERVAL_MS', 100, 3_600_000, 5000),
  METRICS_DEVICES: z
    .string()
    .optional()
    .refine((raw) => raw === undefined || raw.split(',').filter(Boolean).length <= 100, {
      message: 'METRICS_DEVICES must list at most 100 device ids',
    })
    .refine((raw) => raw === undefined || raw.split(',').filter(Boolean).every((d) => /^[A-Za-z0-9_.:-]{1,128}$/.test(d.trim())), {
      message: 'METRICS_DEVICES must be a comma-separated list of device ids',
    }),
  HOSTNAME: z.string().optional(),
  IDEMPOTENCY_TTL_SECONDS: int('IDEMPOTENCY_TTL_SECONDS', 1, 30 * 24 * 3600, 24 * 3600),
  RATE_LIMIT_PER_DEVICE: positiveNumber('RATE_LIMIT_PER_DEVICE', 0),
  RATE_LIMIT_BURST: int('RATE_LIMIT_BURST', 1, 1_000_000, 0),
  INGEST_TOKENS: tokens('INGEST_TOKENS'),
  READ_TOKENS: tokens('READ_TOKENS'),
});

/** Raised for an invalid environment; its message is one line naming the variable and the rule. */
export class ConfigError extends Error {
  override readonly name = 'ConfigError';
}

/** Reads and validates the configuration from `env` (the source services' variable names are honoured as fallbacks). */
export function loadConfig(env: Record<string, string | undefined>): Config {
  const parsed = Env.safeParse(env);
  if (!parsed.success) {
    const issue = parsed.error.issues[0];
    const variable = String(issue?.path[0] ?? 'environment');
    const message = issue?.message ?? 'is invalid';
    throw new ConfigError(`Invalid configuration: ${message.startsWith(variable) ? message : `${variable}: ${message}`}`);
  }
  const e = parsed.data;
  if (e.MIN_SAMPLES > e.WINDOW_SIZE) {
    throw new ConfigError(
      `Invalid configuration: MIN_SAMPLES must not exceed WINDOW_SIZE (got ${e.MIN_SAMPLES} > ${e.WINDOW_SIZE})`,
    );
  }
  return Object.freeze({
    port: e.PORT || e.SERVER_PORT || 8080,
    redisUrl: resolveRedisUrl(e),
    redisClusterNodes: Object.freeze(
      (e.REDIS_CLUSTER_NODES ?? '')
        .split(',')
        .map((n) => n.trim())
        .filter(Boolean)
        .map((n) => ({ host: n.slice(0, n.lastIndexOf(':')), port: Number(n.slice(n.lastIndexOf(':') + 1)) })),
    ),
    keyPrefix: e.KEY_PREFIX ?? 'iot:',
    windowSize: e.WINDOW_SIZE,
    zThreshold: e.Z_THRESHOLD,
    minSamples: e.MIN_SAMPLES,
    maxBatch: e.MAX_BATCH,
    maxBodyBytes: e.MAX_BODY_BYTES,
    seriesTtlSeconds: e.SERIES_TTL_SECONDS,
    recentAnomalies: e.RECENT_ANOMALIES,
    redisCommandTimeoutMs: e.REDIS_COMMAND_TIMEOUT_MS,
    pushgatewayUrl: e.PUSHGATEWAY_URL || undefined,
    pushIntervalMs: e.PUSH_INTERVAL_MS,
    metricsDevices: Object.freeze((e.METRICS_DEVICES ?? 'default').split(',').map((d) => d.trim()).filter(Boolean)),
    instance: e.HOSTNAME || hostname(),
    idempotencyTtlSeconds: e.IDEMPOTENCY_TTL_SECONDS,
    rateLimitPerDevice: e.RATE_LIMIT_PER_DEVICE,
    // Ten seconds' worth unless set: room for a device's batch of buffered readings.
    rateLimitBurst: e.RATE_LIMIT_BURST || Math.max(1, Math.ceil(10 * e.RATE_LIMIT_PER_DEVICE)),
    ingestTokens: Object.freeze(e.INGEST_TOKENS),
    readTokens: Object.freeze(e.READ_TOKENS),
  });
}

function resolveRedisUrl(e: z.infer<typeof Env>): string {
  if (e.REDIS_URL) return e.REDIS_URL;
  const address = e.REDIS_ADDR || `${e.REDIS_HOST || '127.0.0.1'}:${e.REDIS_PORT}`;
  const auth = e.REDIS_PASSWORD ? `:${encodeURIComponent(e.REDIS_PASSWORD)}@` : '';
  return `redis://${auth}${address}`;
}

/** The configuration of this process; an invalid environment ends the process with one line on stderr. */
export function configFromEnvOrExit(): Config {
  try {
    return loadConfig(process.env);
  } catch (error) {
    if (error instanceof ConfigError) {
      console.error(error.message);
      process.exit(1);
    }
    throw error;
  }
}
