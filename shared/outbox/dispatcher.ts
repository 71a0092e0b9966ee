import { randomUUID } from 'node:crypto';
import type { Config } from '../config/load.js';
import type { Outbox, OutboxEntry } from '../store/outbox.js';
import { countDelivery, exportBacklog } from '../telemetry/outbox-metrics.js';
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
  /** Devices this process will not try before a time (failing, or leased by another): a sink that is
   * down costs no Redis command per device and poll. */
  readonly notBefore: Map<string, number>;
}

/**
 * Delivers the outboxes of every device to K_SINK: at least once, in order per device (one dispatcher
 * holds a device's lease while it delivers), an entry acknowledged only once the sink took it. A failed
 * delivery is tried again after a backoff that doubles; after OUTBOX_MAX_ATTEMPTS failures it is
 * dead-lettered and the device's next entries go on. A dispatcher that dies leaves its unacknowledged
 * entries pending: the next holder of the lease delivers them again, with the same event ids.
 */
export function createDispatcher(outbox: Outbox, config: Settings & { sinkUrl: string }): Dispatcher {
  const state: State = { outbox, config, owner: randomUUID(), notBefore: new Map() };
  const drain = async () => {
    const now = Date.now();
    const devices = (await outbox.devices()).filter((device) => (state.notBefore.get(device) ?? 0) <= now);
    const report = new Map<string, DeviceDrain>();
    for (let i = 0; i < devices.length; i += PARALLEL_DEVICES) {
      const slice = devices.slice(i, i + PARALLEL_DEVICES);
      const done = await Promise.all(slice.map((device) => drainDevice(state, device)));
      slice.forEach((device, j) => {
        report.set(device, done[j]!);
        if (done[j] === 'drained' || done[j] === 'more') state.notBefore.delete(device);
      });
    }
    return report;
  };
  return { drain, stop: () => undefined };
}

/**
 * Delivers one device's entries under its lease. Its holder stops reading at a quarter of the lease,
 * and a delivery times out within another quarter: the lease never runs out while its holder delivers.
 * Entries read and not delivered when time is up stay pending: the next pass reads them first.
 */
async function drainDevice(state: State, device: string): Promise<DeviceDrain> {
  const { outbox, owner, notBefore } = state;
  const leaseMs = state.config.outboxLeaseMs;
  if (!(await outbox.lease(device, owner, leaseMs))) {
    notBefore.set(device, Date.now() + leaseMs / 4);
    return 'busy';
  }
  try {
    const at = await outbox.retryAt(device);
    if (at > Date.now()) {
      notBefore.set(device, at);
      return 'waiting';
    }
    await outbox.forget(device);
    const until = Date.now() + leaseMs / 4;
    for (;;) {
      const entries = await outbox.read(device, BATCH);
      if (entries.length === 0) return 'drained';
      for (const entry of entries) {
        const delivered = await deliver(state, entry);
        if (!delivered || Date.now() >= until) {
          await outbox.remember(device);
          return delivered ? 'more' : 'failing';
        }
      }
    }
  } finally {
    await outbox.release(device, owner).catch(() => undefined);
  }
}

/** Delivers one entry; false when it failed and is to be tried again later. */
async function deliver({ outbox, config, notBefore }: State, entry: OutboxEntry): Promise<boolean> {
  const event = anomalyEvent(entry, config.ceOverrides);
  try {
    await send(config.sinkUrl, event, config.outboxLeaseMs / 4);
  } catch (error) {
    const retryAt = (attempts: number) => Date.now() + Math.min(MAX_BACKOFF_MS, config.outboxRetryMs * 2 ** (attempts - 1));
    const attempts = await outbox.failed(entry, retryAt);
    if (attempts < config.outboxMaxAttempts) {
      notBefore.set(entry.device, retryAt(attempts));
      countDelivery('failed');
      return false;
    }
    await outbox.deadLetter(entry, event.toJSON(), attempts, String((error as Error).message ?? error));
    countDelivery('dead_lettered');
    return true;
  }
  await outbox.acknowledge(entry);
  countDelivery('delivered', Date.now() - Number(entry.entryId.split('-')[0]));
  return true;
}

/**
 * Runs a dispatcher in this process: a pass every POLL_MS (never two at once), and a sweep for outbox
 * streams at start and every minute, which finds what a pod that died between its record call and its
 * tally appended but never announced. Errors (Redis away) are logged when the state changes.
 */
export function startDispatcher(outbox: Outbox, config: Settings & { sinkUrl: string }): Dispatcher {
  const dispatcher = createDispatcher(outbox, config);
  exportBacklog(() => outbox.devices().then((d) => d.length));
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
