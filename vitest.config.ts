import { defineConfig } from 'vitest/config';

// The suite runs in a time zone that is not UTC, so that nothing passes only because the server's
// zone happens to be UTC (test workers inherit it; setting it inside a worker thread does not work).
process.env.TZ = 'America/New_York';

export default defineConfig({
  test: {
    include: ['test/**/*.test.ts'],
    globalSetup: ['test/support/global-setup.ts'],
    testTimeout: 60_000,
    hookTimeout: 60_000,
    // Two cores: keep the process-spawning files from starving each other.
    maxWorkers: 2,
  },
});
