import { type ViteUserConfig, defineConfig } from 'vitest/config';

// The suite runs in a time zone that is not UTC, so that nothing passes only because the server's
// zone happens to be UTC (test workers inherit it; setting it inside a worker thread does not work).
process.env.TZ = 'America/New_York';

const REDIS = 'test/support/redis-setup.ts';
const BUILD = 'test/support/build-setup.ts';

/**
 * The tiers, one folder and one vitest project each, with what its global setup starts: unit tests
 * need nothing (no Redis, no process); integration tests a real redis-server; system tests spawn
 * processes (the built functions, their own redis-server, Cluster, Prometheus, Chromium, CLIs), so
 * they get a fresh dist/ as well. `vitest run --project unit` starts neither.
 */
const TIERS = { unit: [], integration: [REDIS], system: [BUILD, REDIS] } as const;

const timeouts = { testTimeout: 60_000, hookTimeout: 60_000 };

export default defineConfig({
  test: {
    projects: Object.entries(TIERS).map(([name, globalSetup]) => ({
      test: { name, include: [`test/${name}/**/*.test.ts`], globalSetup: [...globalSetup], ...timeouts },
    })),
    // Two cores, shared by all tiers: keep the process-spawning files from starving each other.
    maxWorkers: 2,
  },
});

/** Every tier as one flat suite (for Stryker, vitest.mutate.config.ts: its include and exclude narrow a flat suite). */
export const allTiers: ViteUserConfig = {
  test: { include: ['test/{unit,integration,system}/**/*.test.ts'], globalSetup: [BUILD, REDIS], ...timeouts, maxWorkers: 2 },
};
