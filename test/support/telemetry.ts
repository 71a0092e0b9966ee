import type { Registry } from 'prom-client';
import { type Context, createContext } from '../../shared/context.js';
import { createMetrics } from '../../shared/telemetry/metrics.js';
import { testConfig } from './app.js';

/** A context on the test Redis with metrics of its own: what a process serving this configuration counts, serves and pushes. */
export function servedContext(env: Record<string, string> = {}): Context {
  return createContext(testConfig(env), createMetrics());
}

/** The value of the first sample of `name` in `registry` whose labels include `labels` (0 without one). */
export async function sample(registry: Registry, name: string, labels: Record<string, string> = {}): Promise<number> {
  const { values } = await registry.getSingleMetric(name)!.get();
  return values.find((v) => Object.entries(labels).every(([k, l]) => v.labels[k] === l))?.value ?? 0;
}

/** One event per value of metric cpu of `device`, at timestamps 0, 1, ... */
export function cpuReadings(device: string, values: readonly number[]): Array<{ deviceId: string; timestamp: number; metrics: Array<[string, number]> }> {
  return values.map((cpu, i) => ({ deviceId: device, timestamp: i, metrics: [['cpu', cpu]] }));
}
