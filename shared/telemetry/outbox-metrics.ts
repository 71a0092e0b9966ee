import { Counter, Gauge, Histogram, type Registry } from 'prom-client';

/** What the outbox dispatcher counts (part of Metrics, metrics.ts). */
export interface OutboxMetrics {
  /** Counts one delivery attempt's outcome; a delivered one with its lag. */
  countDelivery(outcome: 'delivered' | 'failed' | 'dead_lettered', lagMs?: number): void;
  /** Registers the backlog gauge (devices with entries to deliver, read from Redis at collection time); once per registry. */
  exportBacklog(read: () => Promise<number>): void;
}

/**
 * Defines the dispatcher's metrics on `registry`. Every registry has them (0 where no dispatcher runs),
 * so that the rules over them always have data.
 */
export function outboxMetrics(registry: Registry): OutboxMetrics {
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

  let backlog: Gauge | undefined;
  return {
    countDelivery(outcome, lagMs) {
      deliveries.inc({ outcome });
      if (lagMs !== undefined) lag.observe(Math.max(0, lagMs) / 1000);
    },
    exportBacklog(read) {
      backlog ??= backlogGauge(registry, read);
    },
  };
}

function backlogGauge(registry: Registry, read: () => Promise<number>): Gauge {
  return new Gauge({
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
