import { randomUUID } from 'node:crypto';
import type { Config } from '../config/load.js';
import type { Outbox, OutboxEntry } from '../store/outbox.js';
import { processMetrics } from '../telemetry/metrics.js';
import type { OutboxMetrics } from '../telemetry/outbox-metrics.js';
import { anomalyEvent, send } from './anomaly-event.js';

/** How often the set of devices with entries is looked at, and how often every outbox stream is swept for. */
const POLL_MS = 250;
const SWEEP_MS = 60_000;
const BATCH = 50;
/** Devices delivered at once (each in order, one after the other within a device). */
const PARALLEL_DEVICES = 8;
const MAX_BACKOFF_MS = 300_000;

export type DeviceDrain = 'drained' | 'more' | 'failing' | 'waiting' | 'busy';

export interface Dispatcher {
  /** One pass over the devices with entries; resolves with what became of each. */
  drain(): Promise<Map<string, DeviceDrain>>;
  stop(): void;
}

type Settings = Pick<Config, 'sinkUrl' | 'ceOverrides' | 'outboxMaxAttempts' | 'outboxRetryMs' | 'outboxLeaseMs'>;

/** What the steps of one dispatcher share. */
interface State {
  readonly outbox: Outbox;
  readonly config: Settings & { sinkUrl: string };
  /** Names this dispatcher in the leases it holds. */
  readonly owner: string;
  readonly sink: URL;
  /** Devices this process will not try before a time (failing, or leased by another): a sink that is
   * down costs no Redis command per device and poll. */
  readonly notBefore: Map<string, number>;
  readonly metrics: OutboxMetrics;
}

/**
 * Delivers the outboxes of every device to K_SINK: at least once, in order per device (one dispatcher
 * holds a device's lease while it delivers), an entry acknowledged only once the sink took it. A failed
 * delivery is tried again after a backoff that doubles; after OUTBOX_MAX_ATTEMPTS failures it is
 * dead-lettered and the device's next entries go on. A dispatcher that dies leaves its unacknowledged
 * entries pending: the next holder of the lease delivers them again, with the same event ids.
 * Deliveries are counted on `metrics` (the process's unless given).
 */
export function createDispatcher(outbox: Outbox, config: Settings & { sinkUrl: string }, metrics: OutboxMetrics = processMetrics()): Dispatcher {
  const state: State = { outbox, config, owner: randomUUID(), sink: new URL(config.sinkUrl), notBefore: new Map(), metrics };
  const drain = async () => {
    const now = Date.now();
    // Waits that are over are dropped here, so the map holds only devices waiting now.
    for (const [device, until] of state.notBefore) if (until <= now) state.notBefore.delete(device);
    const devices = (await outbox.devices()).filter((device) => !state.notBefore.has(device));
    const report = new Map<string, DeviceDrain>();
    if (devices.length === 0) return report;
    // Out of the set before their entries are read, so that one appended meanwhile puts its device back.
    await outbox.forget(devices);
    try {
      await eachAtMost(PARALLEL_DEVICES, devices, async (device) => {
        report.set(device, await drainDevice(state, device));
      });
    } finally {
      // Every device not drained goes back, those not reached (Redis away) too.
      await outbox.remember(devices.filter((device) => report.get(device) !== 'drained'));
    }
    return report;
  };
  return { drain, stop: () => undefined };
}

/** Runs `work` over `items`, at most `limit` at once. */
async function eachAtMost<T>(limit: number, items: readonly T[], work: (item: T) => Promise<void>): Promise<void> {
  let next = 0;
  const worker = async () => {
    while (next < items.length) await work(items[next++]!);
  };
  await Promise.all(Array.from({ length: Math.min(limit, items.length) }, worker));
}

/**
 * One delivery run over a device's entries, under its lease: one script call takes the lease and reads
 * the entries, one settles what became of them. The run stops at a quarter of the lease, and a delivery
 * times out within another quarter: the lease never runs out while its holder delivers. Entries read
 * and not settled stay pending: the next run reads them first.
 */
async function drainDevice(state: State, device: string): Promise<DeviceDrain> {
  const { outbox, owner, notBefore, config } = state;
  const claim = await outbox.claim(device, owner, config.outboxLeaseMs, BATCH);
  if (claim.kind === 'busy') {
    notBefore.set(device, Date.now() + config.outboxLeaseMs / 4);
    return 'busy';
  }
  if (claim.kind === 'waiting') {
    notBefore.set(device, claim.until);
    return 'waiting';
  }
  const until = Date.now() + config.outboxLeaseMs / 4;
  const delivered: string[] = [];
  for (const entry of claim.entries) {
    const event = anomalyEvent(entry, config.ceOverrides);
    const error = await send(state.sink, event, config.outboxLeaseMs / 4).then(() => undefined, (e: unknown) => e);
    if (error !== undefined) return failed(state, entry, event.toJSON(), error, delivered);
    delivered.push(entry.entryId);
    state.metrics.countDelivery('delivered', Date.now() - Number(entry.entryId.split('-')[0]));
    if (Date.now() >= until) break;
  }
  await outbox.settle(device, owner, { delivered, ...backoff(config) });
  return delivered.length === BATCH || delivered.length < claim.entries.length ? 'more' : 'drained';
}

const backoff = (config: Settings) => ({ retryMs: config.outboxRetryMs, maxBackoffMs: MAX_BACKOFF_MS });

/**
 * A delivery failed: what came before it is settled, the failure counted; the device waits (its later
 * entries behind this one), or after OUTBOX_MAX_ATTEMPTS failures the entry is dead-lettered and the
 * device goes on in its next run.
 */
async function failed(state: State, entry: OutboxEntry, event: unknown, error: unknown, delivered: string[]): Promise<DeviceDrain> {
  const { outbox, owner, notBefore, config, metrics } = state;
  const { failures, retryAt } = await outbox.settle(entry.device, owner, { delivered, failed: entry.entryId, ...backoff(config) });
  if (failures < config.outboxMaxAttempts) {
    notBefore.set(entry.device, retryAt);
    metrics.countDelivery('failed');
    return 'failing';
  }
  await outbox.deadLetter(entry, event, failures, String((error as Error).message ?? error));
  await outbox.settle(entry.device, owner, { delivered: [entry.entryId], ...backoff(config) });
  metrics.countDelivery('dead_lettered');
  return 'more';
}

/**
 * Runs a dispatcher in this process: a pass every POLL_MS (never two at once), and a sweep for outbox
 * streams at start and every minute, which finds what a pod that died between its record call and its
 * tally appended but never announced. Errors (Redis away) are logged when the state changes.
 */
export function startDispatcher(outbox: Outbox, config: Settings & { sinkUrl: string }, metrics: OutboxMetrics = processMetrics()): Dispatcher {
  const dispatcher = createDispatcher(outbox, config, metrics);
  metrics.exportBacklog(() => outbox.backlog());
  let running = false;
  let failing = false;
  let lastSweep = 0;
  const tick = async () => {
    if (running) return;
    running = true;
    try {
      if (Date.now() - lastSweep >= SWEEP_MS) {
        await outbox.sweep();
        lastSweep = Date.now();
      }
      await dispatcher.drain();
      if (failing) console.error(JSON.stringify({ severity: 'INFO', message: 'outbox dispatch recovered' }));
      failing = false;
    } catch (error) {
      if (!failing) console.error(JSON.stringify({ severity: 'WARNING', message: 'outbox dispatch failed', error: String(error) }));
      failing = true;
    } finally {
      running = false;
    }
  };
  const timer = setInterval(() => void tick(), POLL_MS);
  timer.unref();
  void tick();
  return { drain: dispatcher.drain, stop: () => clearInterval(timer) };
}
