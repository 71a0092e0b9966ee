import { createHash } from 'node:crypto';
import type { Cluster, Redis } from 'ioredis';
import { masters } from './masters.js';

/*
 * Scripts that run as Redis Functions (FUNCTION LOAD, FCALL; Redis 7). A library's code runs once, when
 * it is loaded: its functions, constants and tables are made then, not at every call as with EVALSHA,
 * where the script's body (record.lua's ~50 local functions and their constants) is run again each
 * time, ~190,000 instructions of every call (BENCHMARKS.md, Round 10). The library and its function are
 * named after a hash of the code, so two versions of the service can share a Redis during a rolling
 * upgrade; FCALL of a function Redis does not have (a restarted Redis without persistence, a new
 * Cluster node, FUNCTION FLUSH) loads the library on every master and calls again, as ioredis does
 * for EVALSHA and NOSCRIPT.
 */

export interface RedisFunction {
  /** What FCALL names. */
  readonly name: string;
  /** The library's code, as FUNCTION LOAD takes it. */
  readonly library: string;
}

/**
 * The library of one script: `code` defines a local function `main(KEYS, ARGV)` at its top level, which
 * is registered as the library's one function, with `flags` (e.g. `allow-oom`). The code runs at the
 * first call, not at FUNCTION LOAD: Redis 7.0 gives a library's top level no globals (math, string,
 * struct, unpack…), only `redis`; its functions and constants are then kept for every later call.
 */
export function redisFunction(prefix: string, code: string, flags: readonly string[] = []): RedisFunction {
  const name = `${prefix}_${createHash('sha1').update(code).update(flags.join(',')).digest('hex').slice(0, 16)}`;
  const flagList = flags.map((flag) => `'${flag}'`).join(', ');
  const library = [
    `#!lua name=${name}`,
    'local function library()',
    code,
    'return main',
    'end',
    'local call',
    `redis.register_function{function_name = '${name}', callback = function(keys, args)`,
    '  call = call or library()',
    '  return call(keys, args)',
    `end, flags = { ${flagList} }}`,
    '',
  ].join('\n');
  return { name, library };
}

/** Redis's answer to FCALL of a function it does not have. */
const MISSING = /Function not found/;

export type FunctionCaller = (fn: RedisFunction, keys: readonly string[], args: ReadonlyArray<string | number | Buffer>) => Promise<unknown>;

/**
 * FCALL in the Buffer form (binary replies stay Buffers), loading the library where it is missing:
 * on every master of a Cluster, and once however many calls find it missing at the same time.
 */
export function functionCaller(redis: Redis | Cluster): FunctionCaller {
  const loading = new Map<string, Promise<unknown>>();
  const load = (fn: RedisFunction) => {
    let done = loading.get(fn.name);
    if (!done) {
      done = Promise.all(masters(redis).map((node) => node.call('FUNCTION', 'LOAD', 'REPLACE', fn.library))).finally(() => loading.delete(fn.name));
      loading.set(fn.name, done);
    }
    return done;
  };
  return async (fn, keys, args) => {
    try {
      return await redis.fcallBuffer(fn.name, keys.length, keys, args);
    } catch (error) {
      if (!(error instanceof Error) || !MISSING.test(error.message)) throw error;
      await load(fn);
      return await redis.fcallBuffer(fn.name, keys.length, keys, args);
    }
  };
}
