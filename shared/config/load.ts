import { hostname } from 'node:os';
import { PROFILES } from '../detector/profiles.js';
import { SETTINGS, type Setting } from './settings.js';

type Settings = typeof SETTINGS;
type Value<S> = S extends Setting<infer T, string | undefined> ? T : never;
type Env = { readonly [V in keyof Settings]: Value<Settings[V]> };
type Keyed = { readonly [V in keyof Settings as Settings[V]['key'] & string]: Value<Settings[V]> };

/** Fields worked out from several variables (fallbacks, defaults that depend on another setting). */
interface Derived {
  readonly port: number;
  readonly redisUrl: string;
  readonly rateLimitBurst: number;
  readonly instance: string;
}

/** Every setting of the service, read once from the environment and frozen (see SETTINGS). */
export type Config = Omit<Keyed, keyof Derived> & Derived;

/** Raised for an invalid environment; its message is one line naming the variable and the rule. */
export class ConfigError extends Error {
  override readonly name = 'ConfigError';
}

/** Reads and validates the configuration from `env` (the source services' variable names are honoured as fallbacks). */
export function loadConfig(env: Record<string, string | undefined>): Config {
  const read = readEnv(env);
  if (read.MIN_SAMPLES > read.WINDOW_SIZE) {
    throw new ConfigError(`Invalid configuration: MIN_SAMPLES must not exceed WINDOW_SIZE (got ${read.MIN_SAMPLES} > ${read.WINDOW_SIZE})`);
  }
  if (read.READY_MEMORY_LOW >= read.READY_MEMORY_HIGH) {
    throw new ConfigError(`Invalid configuration: READY_MEMORY_LOW must be below READY_MEMORY_HIGH (got ${read.READY_MEMORY_LOW} >= ${read.READY_MEMORY_HIGH})`);
  }
  const keyed: Record<string, unknown> = {};
  for (const [variable, s] of Object.entries(SETTINGS) as Array<[keyof Settings, Setting<unknown>]>) {
    if (s.key) keyed[s.key] = read[variable];
  }
  const derived: Derived = {
    port: read.PORT || read.SERVER_PORT || 8080,
    redisUrl: resolveRedisUrl(read),
    // Ten seconds' worth unless set: room for a device's batch of buffered readings.
    rateLimitBurst: read.RATE_LIMIT_BURST || Math.max(1, Math.ceil(10 * read.RATE_LIMIT_PER_DEVICE)),
    instance: read.HOSTNAME || hostname(),
  };
  return Object.freeze({ ...keyed, ...derived }) as Config;
}

function readEnv(env: Record<string, string | undefined>): Env {
  const out: Record<string, unknown> = {};
  for (const [variable, s] of Object.entries(SETTINGS) as Array<[string, Setting<unknown>]>) {
    const raw = env[variable];
    if (raw === undefined || (raw === '' && !s.allowEmpty)) {
      out[variable] = s.fallback;
      continue;
    }
    const parsed = s.rule.parse(raw);
    if ('error' in parsed) throw new ConfigError(`Invalid configuration: ${variable} ${parsed.error}`);
    out[variable] = parsed.value;
  }
  // A profiled setting left unset takes its value from the profile in force.
  const profile = PROFILES[out.DETECTOR_PROFILE as keyof typeof PROFILES];
  for (const [variable, s] of Object.entries(SETTINGS) as Array<[string, Setting<unknown>]>) {
    const raw = env[variable];
    if (s.profiled && s.key && (raw === undefined || raw === '')) out[variable] = profile[s.key as keyof typeof profile];
  }
  return out as Env;
}

function resolveRedisUrl(e: Env): string {
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

/** The settings GET /stats shows, named like their variables in lower case. */
export function statsEcho(config: Config): Record<string, unknown> {
  const echo: Record<string, unknown> = {};
  for (const [variable, s] of Object.entries(SETTINGS) as Array<[string, Setting<unknown>]>) {
    if (s.echo && s.key) echo[variable.toLowerCase()] = (config as unknown as Record<string, unknown>)[s.key];
  }
  return echo;
}

/** The configuration table (docs/operations.md), made from SETTINGS (npm run generate writes it; a test compares). */
export function configTable(): string {
  const rows = Object.entries(SETTINGS).map(([variable, s]: [string, Setting<unknown>]) => {
    const fallback = s.shown ?? String(s.fallback);
    return `| \`${variable}\` | ${fallback} | ${s.rule.text} | ${s.doc} |`;
  });
  return ['| variable | default | rule | meaning |', '|---|---|---|---|', ...rows].join('\n');
}
