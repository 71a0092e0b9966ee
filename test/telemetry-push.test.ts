// The push's log lines, in a process of its own: observe() registers its gauges once per process.
import { describe, expect, it } from 'vitest';
import { createContext } from '../shared/context.js';
import { registry } from '../shared/telemetry/metrics.js';
import { observe } from '../shared/telemetry/observe.js';
import { startPushgateway } from '../support/prometheus.js';
import { type Running, freePort, waitFor } from '../support/servers.js';
import { testConfig } from './support/app.js';

const value = async (name: string) => (await registry.getSingleMetric(name)!.get()).values[0]?.value ?? 0;

describe('a served function pushing its metrics', () => {
  it('logs a failing push once, and its recovery once, never throwing', async () => {
    const port = await freePort();
    const config = testConfig({ PUSHGATEWAY_URL: `http://127.0.0.1:${port}`, PUSH_INTERVAL_MS: '100' });
    const context = createContext(config);
    const lines: Array<{ severity: string; message: string; pushgateway: string }> = [];
    const original = console.error;
    // Only this pusher's lines (another test's timers may still log).
    console.error = (line: string) => {
      const parsed = (() => { try { return JSON.parse(line); } catch { return undefined; } })();
      if (parsed?.pushgateway === config.pushgatewayUrl) lines.push(parsed);
    };
    const stop = observe('push-log-test', context, { seriesGauges: false });
    let late: Running | undefined;
    try {
      // Nothing listens yet: several pushes fail, one line says so, each is counted, none is a success.
      await new Promise((resolve) => setTimeout(resolve, 450));
      expect(lines.map((l) => [l.severity, l.message, l.pushgateway])).toEqual([['WARNING', 'metrics push failed', config.pushgatewayUrl]]);
      expect(await value('metrics_push_failures_total')).toBeGreaterThanOrEqual(3);
      expect(await value('metrics_push_last_success_timestamp_seconds')).toBe(0);
      late = await startPushgateway(port);
      await waitFor('the recovery line', async () => lines.length === 2);
      await new Promise((resolve) => setTimeout(resolve, 300));
      expect(lines.slice(1).map((l) => [l.severity, l.message, l.pushgateway])).toEqual([['INFO', 'metrics push recovered', config.pushgatewayUrl]]);
      expect(await value('metrics_push_last_success_timestamp_seconds')).toBeGreaterThan(Date.now() / 1000 - 60);
    } finally {
      stop();
      console.error = original;
      await late?.stop();
      await context.store.close();
    }
  });
});
