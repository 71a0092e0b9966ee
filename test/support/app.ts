import { randomUUID } from 'node:crypto';
import type { AddressInfo } from 'node:net';
import { http } from '@google-cloud/functions-framework';
import { getTestServer } from '@google-cloud/functions-framework/testing';
import { Redis } from 'ioredis';
import { inject } from 'vitest';
import { type Config, loadConfig } from '../../shared/config/load.js';
import { type Context, createContext } from '../../shared/context.js';
import { serve } from '../../shared/http/pipeline.js';
import type { Routes } from '../../shared/http/routes.js';

/** A configuration on the test Redis with a key prefix of its own, so test files never collide. */
export function testConfig(env: Record<string, string> = {}): Config {
  return loadConfig({ REDIS_URL: inject('redisUrl'), KEY_PREFIX: `t:${randomUUID().slice(0, 8)}:`, ...env });
}

export interface TestApp {
  readonly url: string;
  readonly context: Context;
  close(): Promise<void>;
}

/** Serves a route table through functions-framework's own server (its middleware included) on a loopback port. */
export async function startApp(routes: (context: Context) => Routes, env: Record<string, string> = {}): Promise<TestApp> {
  const context = createContext(testConfig(env));
  const name = `test-${randomUUID()}`;
  http(name, serve(name, routes(context), context.config, context.metrics));
  const server = getTestServer(name);
  // Node closes a kept-alive connection idle for 5 s, and fetch reuses it until ~2 s before that: a test
  // process starved of CPU for those 2 s (a loaded 2-core machine) sends into a closing socket. No test
  // idles this long, so the race is gone.
  server.keepAliveTimeout = 60_000;
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as AddressInfo;
  return {
    url: `http://127.0.0.1:${port}`,
    context,
    async close() {
      server.closeAllConnections();
      await new Promise((resolve) => server.close(resolve));
      await context.store.close();
    },
  };
}

export interface Reply {
  status: number;
  headers: Headers;
  body: any;
}

/** Sends a request and returns the status, headers and parsed JSON body. */
export async function request(
  url: string,
  options: { method?: string; body?: unknown; raw?: string | Uint8Array; headers?: Record<string, string> } = {},
): Promise<Reply> {
  const hasBody = options.body !== undefined || options.raw !== undefined;
  const response = await fetch(url, {
    method: options.method ?? (hasBody ? 'POST' : 'GET'),
    headers: { ...(hasBody ? { 'content-type': 'application/json' } : {}), ...options.headers },
    body: options.raw ?? (options.body === undefined ? undefined : JSON.stringify(options.body)),
  });
  const text = await response.text();
  let body: unknown = text;
  try {
    body = JSON.parse(text);
  } catch {
    // not JSON: keep the text for the assertion to show
  }
  return { status: response.status, headers: response.headers, body };
}

/** Every key under a prefix with its serialized value: equal snapshots mean Redis was not touched. */
export async function snapshot(config: Config): Promise<Record<string, string>> {
  const redis = new Redis(config.redisUrl);
  try {
    const found = await redis.keys(`${config.keyPrefix}*`);
    const out: Record<string, string> = {};
    for (const key of found.sort()) {
      const dumped = await redis.dumpBuffer(key);
      out[key] = dumped ? dumped.toString('base64') : '';
    }
    return out;
  } finally {
    redis.disconnect();
  }
}
