import type { Client } from './connection.js';
import { masters } from './masters.js';
import type { StoredEpisode } from './episode-record.js';
import { keys } from './keys.js';

/** Dead letters kept (a stream over all devices, newest last). */
const DEAD_LETTER_CAP = 10_000;
/** Members per SADD or SREM of the set of devices with entries. */
const CHUNK = 1000;

/** One episode change waiting in a device's outbox (fields as record.lua appends them). */
export interface OutboxEntry {
  /** The stream entry id (`<ms>-<seq>`): when it was appended. */
  readonly entryId: string;
  readonly device: string;
  readonly step: 'opened' | 'closed';
  /** The episode's id within its device, `<start ms>/<metric>`. */
  readonly id: string;
  readonly record: StoredEpisode;
  /** z and rolling average of the value that opened (or closed) the episode; z null when infinite. */
  readonly z: number | null;
  readonly avg: number;
}

/** What taking a device's outbox gave: another holder has it, it waits after failures, or its next entries. */
export type Claim =
  | { readonly kind: 'busy' }
  | { readonly kind: 'waiting'; readonly until: number }
  | { readonly kind: 'claimed'; readonly entries: readonly OutboxEntry[] };

/** How a delivery run over a device's entries ended: those delivered, and the one that failed (if any). */
export interface Settlement {
  readonly delivered: readonly string[];
  readonly failed?: string;
  /** Backoff after a failure: the first wait and the longest (ms). */
  readonly retryMs: number;
  readonly maxBackoffMs: number;
}

/**
 * The outbox operations the dispatcher needs: two script calls per device and delivery run (claim,
 * settle) and one command per pass on the set of devices. One consumer name serves every dispatcher:
 * a device's outbox is read only under its lease, so the group's pending list is simply "read, not yet
 * acknowledged" (by a dispatcher that failed, or died), and it is read first.
 */
export interface Outbox {
  /** Devices that may have entries to deliver. */
  devices(): Promise<string[]>;
  /** How many there are (SCARD: the gauge needs no names). */
  backlog(): Promise<number>;
  /** Takes devices out of the set before their entries are read: one appended afterwards puts its device back (through the tally). */
  forget(devices: readonly string[]): Promise<void>;
  remember(devices: readonly string[]): Promise<void>;
  /** Takes the device's lease for `leaseMs` and reads up to `count` entries, unless it waits or another holds it. */
  claim(device: string, holder: string, leaseMs: number, count: number): Promise<Claim>;
  /** Acknowledges what was delivered, counts a failure, lets the lease go; returns the failed entry's failures and when to try again. */
  settle(device: string, holder: string, settlement: Settlement): Promise<{ failures: number; retryAt: number }>;
  /** Keeps a given-up entry in the dead-letter stream, with why (settle acknowledges it). */
  deadLetter(entry: OutboxEntry, event: unknown, failures: number, error: string): Promise<void>;
  /** Finds every outbox stream (SCAN on each master) and adds its device to the set. */
  sweep(): Promise<number>;
}

export function createOutbox(redis: Client, keyPrefix: string, ttlSeconds: number): Outbox {
  const chunked = async (command: 'sadd' | 'srem', devices: readonly string[]) => {
    for (let i = 0; i < devices.length; i += CHUNK) await redis[command](keys.outboxDevices, ...devices.slice(i, i + CHUNK));
  };
  return {
    devices: () => redis.smembers(keys.outboxDevices),
    backlog: () => redis.scard(keys.outboxDevices),
    forget: (devices) => chunked('srem', devices),
    remember: (devices) => chunked('sadd', devices),
    claim: async (device, holder, leaseMs, count) =>
      decodeClaim(device, await redis.outboxClaim(...deviceKeys(device), holder, leaseMs, Date.now(), count)),
    settle: async (device, holder, { delivered, failed = '', retryMs, maxBackoffMs }) => {
      const [failures, retryAt] = await redis.outboxSettle(...deviceKeys(device), holder, Date.now(), retryMs, maxBackoffMs, ttlSeconds, failed, ...delivered);
      return { failures, retryAt };
    },
    deadLetter: async (entry, event, failures, error) => {
      await redis.xadd(keys.deadLetters, 'MAXLEN', '~', DEAD_LETTER_CAP, '*', 'device', entry.device, 'entry', entry.entryId,
        'event', JSON.stringify(event), 'attempts', failures, 'error', error);
    },
    sweep: () => sweep(redis, keyPrefix),
  };
}

/** KEYS of both outbox scripts, in their headers' order. */
const deviceKeys = (device: string) => [keys.outbox(device), keys.outboxRetries(device), keys.outboxLease(device)] as const;

/** The reply of outbox-claim.lua (its header). */
function decodeClaim(device: string, reply: Array<number | string | string[]>): Claim {
  if (reply[0] === 0) return { kind: 'busy' };
  if (reply[0] === 1) return { kind: 'waiting', until: Number(reply[1]) };
  const entries: OutboxEntry[] = [];
  for (let i = 1; i < reply.length; i += 2) entries.push(parseEntry(device, String(reply[i]), reply[i + 1] as string[]));
  return { kind: 'claimed', entries };
}

function parseEntry(device: string, entryId: string, fields: string[]): OutboxEntry {
  const f = new Map<string, string>();
  for (let i = 0; i < fields.length; i += 2) f.set(fields[i]!, fields[i + 1]!);
  const z = Number(f.get('z'));
  return {
    entryId, device, step: f.get('step') === '3' ? 'closed' : 'opened', id: f.get('id')!,
    record: JSON.parse(f.get('record')!) as StoredEpisode, z: Number.isFinite(z) ? z : null, avg: Number(f.get('avg')),
  };
}

const OUTBOX_KEY = /^dev:\{(.+)\}:outbox$/;

/** Outbox streams by SCAN on every master (KEY_PREFIX is not applied to a MATCH pattern: it is added here). */
async function sweep(redis: Client, keyPrefix: string): Promise<number> {
  const found = new Set<string>();
  for (const node of masters(redis)) {
    let cursor = '0';
    do {
      const [next, names] = await node.scan(cursor, 'MATCH', `${keyPrefix}dev:*:outbox`, 'COUNT', 1000, 'TYPE', 'stream');
      cursor = next;
      for (const name of names) {
        const device = OUTBOX_KEY.exec(name.slice(keyPrefix.length))?.[1];
        if (device) found.add(device);
      }
    } while (cursor !== '0');
  }
  if (found.size > 0) await redis.sadd(keys.outboxDevices, ...found);
  return found.size;
}
