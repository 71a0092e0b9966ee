import { Pushgateway } from 'prom-client';
import type { Context } from '../context.js';
import type { Metrics } from './metrics.js';

/** The function this process serves, as functions-framework picks it: --target, else FUNCTION_TARGET. */
export function servedTarget(argv: readonly string[] = process.argv, env = process.env): string | undefined {
  for (let i = 0; i < argv.length; i++) {
    const arg = argv[i]!;
    if (arg.startsWith('--target=')) return arg.slice('--target='.length);
    if (arg === '--target') return argv[i + 1];
  }
  return env.FUNCTION_TARGET;
}

/**
 * The package entry point loads every function, so each registration sets up its reporting only if
 * it is the one this process serves.
 */
export function whenServed(target: string, setup: () => void): void {
  if (servedTarget() === target) setup();
}

/**
 * What a served function reports: Redis reachability and, with `seriesGauges`, the per-device gauges
 * (read from Redis) of METRICS_DEVICES and of the METRICS_TOP_DEVICES devices with the most recent
 * anomalies; with PUSHGATEWAY_URL, a push of the whole registry every PUSH_INTERVAL_MS under
 * job=<function>, instance=<host>. All of it on the context's metrics. Returns a function that stops pushing.
 */
export function observe(fn: string, { config, store, metrics }: Context, options: { seriesGauges: boolean }): () => void {
  metrics.exportFromRedis({
    devices: options.seriesGauges ? config.metricsDevices : [],
    top: options.seriesGauges ? config.metricsTopDevices : 0,
    topAnomalousDevices: (limit) => store.topAnomalousDevices(limit),
    series: (device) => store.series(device),
    ping: () => store.ping(),
    memoryUse: () => store.memoryUse(),
  });
  if (!config.pushgatewayUrl) return () => undefined;
  return startPushing(metrics, fn, config.pushgatewayUrl, config.instance, config.pushIntervalMs);
}

/**
 * Pushes on a timer that never holds the process open; a push never overlaps the previous one and
 * times out within one interval. A failure is counted and logged when the state changes, never thrown.
 * functions-framework exits at once on SIGTERM, so what was counted since the last push (at most one
 * interval) is lost with the instance.
 */
function startPushing(metrics: Metrics, fn: string, url: string, instance: string, intervalMs: number): () => void {
  const gateway = new Pushgateway(url, { timeout: Math.min(intervalMs, 10_000) }, metrics.registry);
  let inFlight = false;
  let failing = false;
  const push = async () => {
    if (inFlight) return;
    inFlight = true;
    try {
      await gateway.push({ jobName: fn, groupings: { instance } });
      metrics.recordPush(true);
      if (failing) console.error(JSON.stringify({ severity: 'INFO', message: 'metrics push recovered', pushgateway: url }));
      failing = false;
    } catch (error) {
      metrics.recordPush(false);
      if (!failing) {
        console.error(JSON.stringify({ severity: 'WARNING', message: 'metrics push failed', pushgateway: url, error: String(error) }));
      }
      failing = true;
    } finally {
      inFlight = false;
    }
  };
  void push();
  const timer = setInterval(() => void push(), intervalMs);
  timer.unref();
  return () => clearInterval(timer);
}
