// A Pushgateway that never answers, in a process of its own: observe() registers its gauges once per process.
import { type IncomingMessage, createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import { describe, expect, it } from 'vitest';
import { createContext } from '../shared/context.js';
import { observe } from '../shared/telemetry/observe.js';
import { waitFor } from '../support/servers.js';
import { testConfig } from './support/app.js';

describe('a served function pushing to a Pushgateway that hangs', () => {
  it('gives up a push that hangs within the interval, so the next one is made; and stops when told', async () => {
    // A "Pushgateway" that takes requests and never answers them.
    const connections: IncomingMessage[] = [];
    const server = createServer((req) => void connections.push(req));
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    const { port } = server.address() as AddressInfo;
    const context = createContext(testConfig({ PUSHGATEWAY_URL: `http://127.0.0.1:${port}`, PUSH_INTERVAL_MS: '100' }));
    const original = console.error;
    console.error = () => undefined;
    const stop = observe('push-hang-test', context, { seriesGauges: false });
    try {
      // Each push gives up after the interval (100 ms): three of them well within 2 s, not one per
      // agent timeout (5 s) or never.
      const started = Date.now();
      await waitFor('three pushes', async () => connections.length >= 3);
      expect(Date.now() - started).toBeLessThan(2000);
      stop();
      await new Promise((resolve) => setTimeout(resolve, 300));
      const after = connections.length;
      await new Promise((resolve) => setTimeout(resolve, 400));
      expect(connections.length).toBe(after);
    } finally {
      stop();
      console.error = original;
      server.closeAllConnections();
      await new Promise((resolve) => server.close(resolve));
      await context.store.close();
    }
  });
});
