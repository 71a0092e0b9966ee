// npm run bench:instructions: an A/B in instructions, where this machine's throughput swings ±25% from
// one round to the next. The ingest function of another built checkout (AB_BASE) and of this one each
// take the same fixed workload, sent one request at a time (so no two requests share a turn of the
// event loop); valgrind's callgrind counts the instructions of redis-server and of the function process.
// Per event: (workload run − the same process started and stopped without requests) / events.
// Env: AB_BASE (required; this checkout itself to compare two settings), EXTRA_A / EXTRA_B (JSON env for
// one side), EVENTS (single events, 1,000), BATCHES (1,000-event batches, from 1,000 devices and from 10, 4 of each),
// REDIS_ONLY=1 (the function runs without valgrind: Redis's count only, several times faster), KEEP=<dir>
// (the busy runs' callgrind files are copied there for callgrind_annotate).
import { execFileSync, spawn } from 'node:child_process';
import { copyFileSync, existsSync, mkdirSync, mkdtempSync, readFileSync, readdirSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseCommandLine } from '../support/cli.js';
import { startFunction } from '../support/functions.js';
import { freePort, stopProcess, waitFor } from '../support/servers.js';
import { batches, singleEvents } from './workload.js';

parseCommandLine({
  usage: 'AB_BASE=<built checkout> npm run bench:instructions',
  summary: [
    'An A/B in instructions (valgrind callgrind) of redis-server and of the ingest function, per event: the function of',
    'another build (A: AB_BASE) and of this one (B) take the same fixed workload, one request at a time.',
  ].join('\n'),
  options: {},
  environment: {
    AB_BASE: 'required: a built checkout (with dist/functions/index.js); this checkout itself to compare two settings',
    EXTRA_A: 'JSON object of environment variables for side A only',
    EXTRA_B: 'JSON object of environment variables for side B only',
    EVENTS: 'single events sent (default: 1000)',
    BATCHES: '1,000-event batches sent from 1,000 devices, and as many from 10 (default: 4)',
    REDIS_ONLY: "1: the function runs without valgrind (Redis's count only, several times faster)",
    KEEP: "a directory: the busy runs' callgrind files are copied there, for callgrind_annotate",
  },
  examples: ['npm run build && AB_BASE=../ab-base npm run bench:instructions', 'AB_BASE=. EXTRA_B=\'{"Z_THRESHOLD":"4"}\' REDIS_ONLY=1 npm run bench:instructions'],
});

const base = process.env.AB_BASE;
if (!base || !existsSync(join(base, 'dist/functions/index.js'))) {
  process.stderr.write('AB_BASE must name a built checkout (dist/functions/index.js) (see --help)\n');
  process.exit(2);
}
const here = fileURLToPath(new URL('..', import.meta.url));
const EVENTS = Number(process.env.EVENTS ?? 1000);
const BATCHES = Number(process.env.BATCHES ?? 4);
type Load = { name: string; path: string; bodies: string[]; events: number };
const loads: Load[] = [
  { name: 'single events', path: '/ingest', bodies: singleEvents('/ingest', 1000, EVENTS).map((r) => r.body!), events: EVENTS },
  { name: 'batches from 1000 devices', path: '/ingest/batch', bodies: batches('/ingest/batch', 1000, 1000, BATCHES).map((r) => r.body!), events: 1000 * BATCHES },
  { name: 'batches from 10 devices', path: '/ingest/batch', bodies: batches('/ingest/batch', 1000, 10, BATCHES).map((r) => r.body!), events: 1000 * BATCHES },
];

/** Instructions (callgrind's Ir) of a process run to its end. */
function instructions(dir: string): number {
  const file = readdirSync(dir).find((f) => f.startsWith('callgrind.out'))!;
  return Number(/^summary:\s+(\d+)/m.exec(readFileSync(join(dir, file), 'utf8'))![1]);
}

/** Runs `send` against a fresh redis-server and one function process (source: a checkout), both under callgrind. */
const env = (name: string) => JSON.parse(process.env[name] ?? '{}') as Record<string, string>;
const REDIS_ONLY = process.env.REDIS_ONLY === '1';

async function measure(source: string, extra: Record<string, string>, load: Load | undefined, label = ''): Promise<{ redis: number; fn: number }> {
  const dirs = { redis: mkdtempSync(join(tmpdir(), 'cg-redis-')), fn: mkdtempSync(join(tmpdir(), 'cg-fn-')) };
  const port = await freePort();
  const redis = spawn('valgrind', ['--tool=callgrind', `--callgrind-out-file=${dirs.redis}/callgrind.out`, 'redis-server', '--port', String(port), '--bind', '127.0.0.1', '--save', '', '--appendonly', 'no'], { stdio: ['ignore', 'pipe', 'ignore'] });
  let said = '';
  redis.stdout.on('data', (chunk: Buffer) => (said += chunk.toString()));
  const url = `redis://127.0.0.1:${port}`;
  await waitFor('redis under callgrind', async () => said.includes('Ready to accept connections'), redis, 60_000);
  const fn = await startFunction('ingest', { REDIS_URL: url, KEY_PREFIX: 'cg:', MAX_BATCH: '1000', MAX_BODY_BYTES: '4194304', REDIS_COMMAND_TIMEOUT_MS: '60000', ...extra }, {
    source,
    ...(REDIS_ONLY ? {} : { wrapper: ['valgrind', '--tool=callgrind', `--callgrind-out-file=${dirs.fn}/callgrind.out`, '--trace-children=no'] }),
    timeoutMs: 120_000,
  });
  for (const body of load?.bodies ?? []) {
    const res = await fetch(`${fn.url}${load!.path}`, { method: 'POST', headers: { 'content-type': 'application/json' }, body });
    if (res.status !== 202) throw new Error(`${res.status} ${await res.text()}`);
  }
  await stopProcess(fn.process);
  execFileSync('redis-cli', ['-p', String(port), 'shutdown', 'nosave']);
  await new Promise((resolve) => redis.once('exit', resolve));
  const out = { redis: instructions(dirs.redis), fn: REDIS_ONLY ? 0 : instructions(dirs.fn) };
  if (process.env.KEEP && load) keep(dirs, `${process.env.KEEP}/${label}`);
  for (const dir of Object.values(dirs)) rmSync(dir, { recursive: true, force: true });
  return out;
}

/** Copies a run's callgrind files to `to` (KEEP). */
function keep(dirs: { redis: string; fn: string }, to: string): void {
  mkdirSync(to, { recursive: true });
  for (const [name, dir] of Object.entries(dirs)) for (const f of readdirSync(dir)) copyFileSync(join(dir, f), join(to, `${name}.${f}`));
}

const fmt = (n: number) => Math.round(n).toLocaleString('en-US');
for (const load of loads) {
  const rows: Record<string, { redis: number; fn: number }> = {};
  for (const [side, source] of [['A', base], ['B', here]] as const) {
    const idle = await measure(source, env(`EXTRA_${side}`), undefined);
    const busy = await measure(source, env(`EXTRA_${side}`), load, `${side}-${load.name.replaceAll(' ', '-')}`);
    rows[side] = { redis: (busy.redis - idle.redis) / load.events, fn: (busy.fn - idle.fn) / load.events };
  }
  const { A, B } = rows as Record<'A' | 'B', { redis: number; fn: number }>;
  process.stdout.write(`${load.name}: instructions per event  redis A ${fmt(A.redis)}  B ${fmt(B.redis)}  B/A ${(B.redis / A.redis).toFixed(3)}   function A ${fmt(A.fn)}  B ${fmt(B.fn)}  B/A ${(B.fn / A.fn).toFixed(3)}\n`);
}
process.exit(0);
