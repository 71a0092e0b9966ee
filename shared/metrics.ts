import { Counter, Histogram, Registry, collectDefaultMetrics } from 'prom-client';

/** The one registry of this process; every metric of the service is defined here. */
export const registry = new Registry();
collectDefaultMetrics({ register: registry });

const httpRequests = new Counter({
  name: 'http_requests_total',
  help: 'HTTP requests answered, by function, method, route and status.',
  labelNames: ['function', 'method', 'route', 'status'] as const,
  registers: [registry],
});

const httpDuration = new Histogram({
  name: 'http_request_duration_seconds',
  help: 'Time to answer an HTTP request, from the function being called to the response being handed to Node.',
  labelNames: ['function', 'route'] as const,
  // Fine below 10 ms so that a p99 under the target can be read.
  buckets: [0.0005, 0.001, 0.002, 0.003, 0.005, 0.0075, 0.01, 0.015, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5],
  registers: [registry],
});

const metricsProcessed = new Counter({
  name: 'metrics_processed_total',
  help: 'Metric values applied to their series, by metric.',
  labelNames: ['metric'] as const,
  registers: [registry],
});

const anomaliesDetected = new Counter({
  name: 'anomaly_detected_total',
  help: 'Values flagged as anomalies, by metric.',
  labelNames: ['metric'] as const,
  registers: [registry],
});

/** Metric names come from devices: past this many distinct names, the label value is "other". */
const MAX_METRIC_LABELS = 100;
const metricLabels = new Set<string>();
function metricLabel(name: string): string {
  if (metricLabels.has(name)) return name;
  if (metricLabels.size >= MAX_METRIC_LABELS) return 'other';
  metricLabels.add(name);
  return name;
}

export function observeRequest(fn: string, method: string, route: string, status: number, seconds: number): void {
  httpRequests.inc({ function: fn, method, route, status: String(status) });
  httpDuration.observe({ function: fn, route }, seconds);
}

export function countProcessed(metric: string, values: number, anomalies: number): void {
  const label = metricLabel(metric);
  metricsProcessed.inc({ metric: label }, values);
  if (anomalies > 0) anomaliesDetected.inc({ metric: label }, anomalies);
}
