import type { TestProject } from 'vitest/node';
import { type Running, startRedis } from '../../support/servers.js';

declare module 'vitest' {
  export interface ProvidedContext {
    redisUrl: string;
  }
}

let redis: Running | undefined;

/** The global setup of the integration and system tiers: one real redis-server for the run (or REDIS_URL when set). */
export async function setup(project: TestProject): Promise<void> {
  if (process.env.REDIS_URL) {
    project.provide('redisUrl', process.env.REDIS_URL);
    return;
  }
  redis = await startRedis();
  project.provide('redisUrl', redis.url);
}

export async function teardown(): Promise<void> {
  await redis?.stop();
}
