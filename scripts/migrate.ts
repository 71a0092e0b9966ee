// npm run migrate: rewrites a store written by an earlier version in the one layout the service reads:
// series states (layouts v1 to v6 in a key per series) in layout v6 in their device's state hash,
// keeping their expiry, and episode records and a device's anomalies kept as JSON packed; scan,
// rewrite, report. The service reads none of the older forms: a series left as it was starts again,
// rebuilt from its window on its next write; a record left in JSON is not listed.
import type { Cluster, Redis } from 'ioredis';
import { configFromEnvOrExit } from '../shared/config/load.js';
import { connect } from '../shared/store/connection.js';
import { masters } from '../shared/store/masters.js';
import { packDeviceAnomaly, parseDeviceAnomaly } from '../shared/store/anomaly-record.js';
import { keys } from '../shared/store/keys.js';
import { hoursField } from '../shared/store/series-state.js';
import { CommandFailure, parseCommandLine, runCommand } from '../support/cli.js';
import { type Rewritten, anomalyOfJson, packEpisode, rewrite } from './migrate-layouts.js';

// Moves a series' state (v6) from its key into the device's state hash (field ARGV[4]; its hours to
// ARGV[5]), and the key's expiry onto the hash when it is later; only if the state is still the one
// that was read (0), and not over a state the service has written there since (1: the old key is
// dropped); 2: moved.
const MOVE = `if redis.call('HGET', KEYS[1], 'state') ~= ARGV[1] then return 0 end
local hours = ARGV[3] ~= '' and ARGV[3] or redis.call('HGET', KEYS[1], 'hours')
local moved = redis.call('HSETNX', KEYS[2], ARGV[4], ARGV[2])
if moved == 1 then
  if hours then redis.call('HSET', KEYS[2], ARGV[5], hours) end
  local ttl, have = redis.call('PTTL', KEYS[1]), redis.call('PTTL', KEYS[2])
  if ttl > 0 and (have < 0 or ttl > have) then redis.call('PEXPIRE', KEYS[2], ttl) end
end
redis.call('DEL', KEYS[1])
return moved + 1`;

// Replaces a device's anomaly list (ARGV[3..], newest first) only if no write came since it was read
// (its length ARGV[1] and newest entry ARGV[2]), keeping its expiry.
const SWAP_LIST = `if redis.call('LLEN', KEYS[1]) ~= tonumber(ARGV[1]) or redis.call('LINDEX', KEYS[1], 0) ~= ARGV[2] then return 0 end
local ttl = redis.call('PTTL', KEYS[1])
redis.call('DEL', KEYS[1])
if #ARGV > 2 then redis.call('RPUSH', KEYS[1], unpack(ARGV, 3)) end
if ttl > 0 then redis.call('PEXPIRE', KEYS[1], ttl) end
return 1`;

// Replaces an episode record only if it is still the one that was read.
const SWAP = `if redis.call('HGET', KEYS[1], ARGV[1]) ~= ARGV[2] then return 0 end
redis.call('HSET', KEYS[1], ARGV[1], ARGV[3])
return 1`;

/** What a migration found: series states per layout it moved (and rewrote), left unread (another layout), changed while it ran; episode records and anomaly lists packed or left. */
export type Report = Record<string, number>;

const UNKNOWN = 'unknown (left; rebuilt from its window on its next write)';

/** Migrates every series state, episode record and device anomaly list under `prefix` (all masters of a Cluster); with `dryRun`, only counts. */
export async function migrateStore(client: Redis | Cluster, prefix: string, dryRun = false): Promise<Report> {
  const report: Report = {};
  const count = (outcome: string) => (report[outcome] = (report[outcome] ?? 0) + 1);
  for (const node of masters(client)) {
    for await (const batch of node.scanStream({ match: `${prefix}dev:*`, count: 1000 })) {
      for (const key of batch as string[]) for (const outcome of await migrateKey(client, key.slice(prefix.length), dryRun)) count(outcome);
    }
  }
  for (const outcome of await migrateRecords(client, keys.episodeRecords, dryRun)) count(outcome);
  return report;
}

const SERIES = /^dev:\{(.+)\}:s:([a-z0-9_]+)$/;
const ANOMALIES = /^dev:\{(.+)\}:anomalies$/;
const RECORDS = /^dev:\{.+\}:episode$/;

/** One key of a device (without the prefix) migrated: the outcomes it counts (none for a key of another kind, or already current). */
async function migrateKey(client: Redis | Cluster, key: string, dryRun: boolean): Promise<string[]> {
  const series = SERIES.exec(key);
  if (series) return [await migrateSeries(client, series[1]!, series[2]!, dryRun)];
  const anomalies = ANOMALIES.exec(key);
  if (anomalies) return migrateAnomalies(client, anomalies[1]!, dryRun);
  return RECORDS.test(key) ? migrateRecords(client, key, dryRun) : [];
}

async function migrateSeries(client: Redis | Cluster, device: string, metric: string, dryRun: boolean): Promise<string> {
  const key = `dev:{${device}}:s:${metric}`;
  const packed = await client.hgetBuffer(key, 'state');
  if (!packed) return 'gone';
  const found = rewrite(packed);
  if (!found) return UNKNOWN;
  const to: Rewritten = found === 'current' ? { from: 'v6', state: packed } : found;
  const label = found === 'current' ? 'v6 (moved to the device\'s state hash)' : `${to.from} → v6`;
  if (dryRun) return label;
  const moved = (await client.eval(MOVE, 2, key, keys.deviceState(device), packed, to.state, to.hours ?? '', metric, hoursField(metric))) as number;
  return moved === 2 ? label : 'written meanwhile (left)';
}

/** A device's anomaly list of JSON records packed, what is not a record of ours leaving it; no outcome when it holds packed records only. */
async function migrateAnomalies(client: Redis | Cluster, device: string, dryRun: boolean): Promise<string[]> {
  const key = keys.deviceAnomalies(device);
  const list = await client.lrangeBuffer(key, 0, -1);
  if (list.every((raw) => parseDeviceAnomaly(raw, device))) return [];
  const packed = list.flatMap((raw) => {
    const stored = parseDeviceAnomaly(raw, device) ?? anomalyOfJson(raw);
    return stored ? [packDeviceAnomaly(stored)] : [];
  });
  if (dryRun || (await client.eval(SWAP_LIST, 1, key, list.length, list[0]!, ...packed)) === 1) return ['anomaly list JSON → packed'];
  return ['anomaly list written meanwhile (left)'];
}

/** The JSON records of one episode hash packed (what the service reads); one outcome per JSON record. */
async function migrateRecords(client: Redis | Cluster, key: string, dryRun: boolean): Promise<string[]> {
  const outcomes: string[] = [];
  for (const [id, raw] of Object.entries(await client.hgetallBuffer(key))) {
    if (raw.length === 80) continue;
    const record = packEpisode(raw);
    if (!record) outcomes.push('episode record unknown (left)');
    else if (dryRun || (await client.eval(SWAP, 1, key, id, raw, record)) === 1) outcomes.push('episode record JSON → packed');
    else outcomes.push('episode record written meanwhile (left)');
  }
  return outcomes;
}

if (process.argv[1]?.endsWith('migrate.ts')) {
  const { values } = parseCommandLine({
    usage: 'npm run migrate -- [--dry-run]',
    summary: [
      'Rewrites a store written by an earlier version in the one layout the service reads: series states (layouts v1',
      'to v6, a key per series) in layout v6 in their device\'s state hash, keeping their expiry, and episode records',
      'and device anomaly lists kept as JSON packed; prints what it found. Uses the service\'s REDIS_URL and KEY_PREFIX.',
    ].join('\n'),
    options: { 'dry-run': { type: 'boolean', doc: 'count what would be rewritten, write nothing' } },
    examples: ['REDIS_URL=redis://127.0.0.1:6379 npm run migrate -- --dry-run', 'REDIS_URL=redis://127.0.0.1:6379 npm run migrate'],
  });
  await runCommand(async () => {
    const config = configFromEnvOrExit();
    const client = connect(config);
    try {
      await client.ping().catch((error: Error) => {
        throw new CommandFailure(`Redis does not answer (${error.message}): check REDIS_URL`);
      });
      const report = await migrateStore(client, config.keyPrefix, values['dry-run'] === true).catch((error: Error) => {
        throw new CommandFailure(`the migration stopped (${error.message}); run it again: what it rewrote is current`);
      });
      const rows = Object.entries(report);
      for (const [what, count] of rows) process.stdout.write(`${count.toLocaleString('en-US')} ${what}\n`);
      if (rows.length === 0) process.stdout.write('nothing to migrate under this prefix\n');
    } finally {
      client.disconnect();
    }
  });
}
