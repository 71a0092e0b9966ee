import { Counter, Gauge, Histogram } from 'prom-client';
import { registry } from './metrics.js';

// Defined by every process (0 where no dispatcher runs), so that the rules over them always have data.
const deliveries = new Counter({
  name: 'anomaly_events_total',
  help: 'Anomaly events (alert episodes opened or closed) handed to K_SINK, by outcome: delivered, failed (to be tried again), dead_lettered (given up).',
  labelNames: ['outcome'] as const,
  registers: [registry],
});
for (const outcome of ['delivered', 'failed', 'dead_lettered']) deliveries.inc({ outcome }, 0);

const lag = new Histogram({
  name: 'anomaly_events_delivery_lag_seconds',
  help: 'From an anomaly event entering its outbox (the record call) to the sink taking it.',
  buckets: [0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 300, 900, 3600],
  registers: [registry],
});

/** Counts one delivery attempt's outcome; a delivered one with its lag. */
export function countDelivery(outcome: 'delivered' | 'failed' | 'dead_lettered', lagMs?: number): void {
  deliveries.inc({ outcome });
  if (lagMs !== undefined) lag.observe(Math.max(0, lagMs) / 1000);
}

let backlog: Gauge | undefined;

/** Registers the backlog gauge (devices with entries to deliver, read from Redis at collection time). */
export function exportBacklog(read: () => Promise<number>): void {
  if (backlog) return;
  backlog = new Gauge({
    name: 'anomaly_events_backlog_devices',
    help: 'Devices whose outbox holds anomaly events not yet delivered, read from Redis at collection time.',
    registers: [registry],
    async collect() {
      try {
        this.set(await read());
      } catch {
        // Redis away: the last value stays; iot_redis_up says why.
      }
    },
  });
}
