// npm run migrate: rewrites the series states of a store written by an earlier version in the one
// layout the service reads (v6), in place (scan, rewrite, report); their expiry is kept. The service
// does not read another layout: a series left as it was is rebuilt from its window on its next write,
// its counts and detection state starting again.
import { Cluster, type Redis } from 'ioredis';
import { configFromEnvOrExit } from '../shared/config/load.js';
import { connect } from '../shared/store/connection.js';
import { STATE_FIELD } from '../shared/store/series-state.js';
import { CommandFailure, parseCommandLine, runCommand } from '../support/cli.js';
import { type Rewritten, rewrite } from './migrate-layouts.js';

// Writes the new fields only if the state is still the one that was read (a write in between wins).
const SWAP = `if redis.call('HGET', KEYS[1], 'state') ~= ARGV[1] then return 0 end
if ARGV[3] ~= '' then redis.call('HSET', KEYS[1], 'state', ARGV[2], 'hours', ARGV[3]) else redis.call('HSET', KEYS[1], 'state', ARGV[2]) end
return 1`;

/** What a migration found: states per layout it rewrote, already current, left unread (another layout), and changed while it ran. */
export type Report = Record<string, number>;

/** Rewrites every series state under `prefix` (all masters of a Cluster); with `dryRun`, only counts. */
export async function migrateStore(client: Redis | Cluster, prefix: string, dryRun = false): Promise<Report> {
  const report: Report = {};
  const state = new RegExp(`^${prefix.replace(/[.*+?^${}()|[\]\\]/g, '\\$&')}dev:\\{.+\\}:s:[a-z0-9_]+$`);
  const nodes = client instanceof Cluster ? client.nodes('master') : [client];
  for (const node of nodes) {
    for await (const batch of node.scanStream({ match: `${prefix}dev:*:s:*`, count: 1000 })) {
      for (const key of (batch as string[]).filter((k) => state.test(k))) {
        const outcome = await migrateKey(client, key.slice(prefix.length), dryRun);
        report[outcome] = (report[outcome] ?? 0) + 1;
      }
    }
  }
  return report;
}

async function migrateKey(client: Redis | Cluster, key: string, dryRun: boolean): Promise<string> {
  const packed = await client.hgetBuffer(key, STATE_FIELD);
  if (!packed) return 'gone';
  const found = rewrite(packed);
  if (found === 'current') return 'v6 (current)';
  if (!found) return 'unknown (left; rebuilt from its window on its next write)';
  if (dryRun || (await swap(client, key, packed, found)) === 1) return `${found.from} → v6`;
  return 'written meanwhile (left)';
}

const swap = (client: Redis | Cluster, key: string, old: Buffer, to: Rewritten) => client.eval(SWAP, 1, key, old, to.state, to.hours ?? '') as Promise<number>;

if (process.argv[1]?.endsWith('migrate.ts')) {
  const { values } = parseCommandLine({
    usage: 'npm run migrate -- [--dry-run]',
    summary: [
      'Rewrites the series states of a store written by an earlier version (layouts v1 to v5) in the one layout the',
      'service reads (v6), in place, keeping their expiry; prints what it found. Uses the service\'s REDIS_URL and KEY_PREFIX.',
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
      if (rows.length === 0) process.stdout.write('no series states under this prefix\n');
    } finally {
      client.disconnect();
    }
  });
}
