import { Cluster, Redis, type Result } from 'ioredis';
import type { Config } from '../config/load.js';
import { StoreFullError, StoreUnavailableError } from './errors.js';
import { scriptDefinitions } from './scripts.js';

declare module 'ioredis' {
  interface RedisCommander<Context> {
    outboxClaim(...keysAndArgs: Array<string | number>): Result<Array<number | string | string[]>, Context>;
    outboxSettle(...keysAndArgs: Array<string | number>): Result<[number, number], Context>;
    /** FCALL in the Buffer form (ioredis makes it; its typings lack it): the key count, the keys, the arguments. */
    fcallBuffer(fn: string, numKeys: number, keys: readonly string[], args: ReadonlyArray<string | number | Buffer>): Result<unknown, Context>;
  }
}

export type Client = Redis | Cluster;

/**
 * One client for standalone Redis or Redis Cluster, with the scripts registered (ioredis owns
 * EVALSHA/NOSCRIPT; record.lua runs as a Redis Function, functions.ts); every script runs unchanged on
 * both, since all the keys of one call share a hash tag.
 */
export function connect(config: Config): Client {
  const redis = config.redisClusterNodes.length > 0 ? clusterClient(config) : standaloneClient(config);
  logConnectionErrors(redis);
  return redis;
}

const connection = (config: Config) => ({
  // rediss:// verifies the server certificate against the system CAs, or against REDIS_TLS_CA_FILE.
  ...(config.redisUrl.startsWith('rediss:') ? { tls: config.redisTlsCa ? { ca: config.redisTlsCa } : {} } : {}),
  keyPrefix: config.keyPrefix,
  // A slow Redis fails the request (503) instead of holding it.
  commandTimeout: config.redisCommandTimeoutMs,
  maxRetriesPerRequest: 1,
  // A command whose reply was lost with the connection may or may not have run: never send it again
  // after the request has been answered 503.
  autoResendUnfulfilledCommands: false,
});
const retry = (times: number) => Math.min(times * 100, 500);

function standaloneClient(config: Config): Redis {
  return new Redis(config.redisUrl, {
    ...connection(config),
    scripts: scriptDefinitions(),
    // Concurrent calls of one tick leave in one write: a batch is one round trip.
    enableAutoPipelining: true,
    retryStrategy: retry,
  });
}

function clusterClient(config: Config): Cluster {
  const { username, password } = new URL(config.redisUrl);
  return new Cluster([...config.redisClusterNodes], {
    scripts: scriptDefinitions(),
    // Concurrent calls of one tick leave in one write per node. ioredis groups them by their first
    // argument, which for FCALL (record.lua) is the function's name, not a key: those calls go one by
    // one, each to the node of its device.
    enableAutoPipelining: true,
    autoPipeliningIgnoredCommands: ['fcall'],
    clusterRetryStrategy: retry,
    redisOptions: {
      ...connection(config),
      ...(username ? { username: decodeURIComponent(username) } : {}),
      ...(password ? { password: decodeURIComponent(password) } : {}),
    },
  });
}

/** Logs each distinct connection error once; after the first connection, requests fail fast while Redis is away. */
function logConnectionErrors(redis: Client): void {
  let lastError = '';
  redis.on('error', (error: Error & { code?: string }) => {
    if (error.message === lastError) return;
    lastError = error.message;
    const untrusted = error.code !== undefined && TLS_TRUST.test(error.code);
    const message = untrusted ? "redis TLS certificate not trusted: set REDIS_TLS_CA_FILE to the CA that signed the server's certificate" : 'redis connection error';
    console.error(JSON.stringify({ severity: untrusted ? 'ERROR' : 'WARNING', message, error: error.message }));
  });
  redis.on('ready', () => {
    lastError = '';
    // Queue commands only while first connecting; after that, a request made while Redis is away
    // fails at once (503 with Retry-After) rather than waiting for a reconnection.
    redis.options.enableOfflineQueue = false;
  });
}

/** Node's codes for a server certificate it cannot verify. */
const TLS_TRUST = /CERT|SELF_SIGNED|UNABLE_TO_VERIFY|ALTNAME/;

/** ioredis's ways of saying "Redis cannot answer now" (this module is the only one that knows them). */
const UNAVAILABLE = /Connection is closed|Command timed out|ECONNREFUSED|ECONNRESET|Stream isn't writeable|LOADING|CLUSTERDOWN|TRYAGAIN/;

/** Redis's refusal at `maxmemory`, as a reply or from inside a script. */
const FULL = /^OOM |OOM command not allowed/;

/**
 * The error to throw for a failed command: StoreUnavailableError when Redis is away, StoreFullError when
 * it refused a write at maxmemory, else the error itself (already typed errors pass through).
 */
export function storeError(error: unknown): unknown {
  if (!(error instanceof Error) || error instanceof StoreUnavailableError || error instanceof StoreFullError) return error;
  if (FULL.test(error.message)) return new StoreFullError(error);
  if (error.name === 'MaxRetriesPerRequestError' || UNAVAILABLE.test(error.message)) return new StoreUnavailableError(error);
  return error;
}
