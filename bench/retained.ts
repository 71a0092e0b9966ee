// Retained heap per event in flight: `node --expose-gc --import tsx bench/retained.ts` (the bench runs
// it as a child process). Twenty 1,000-event batches from 1,000 devices go through the JSON parse,
// validation and the store's write path at once, in this process, against the Redis of REDIS_URL;
// a forced GC every 15 ms leaves only what is reachable, and the peak over the base, per event, is
// printed as JSON. Garbage is left out on purpose: V8 collects it, a pod's memory limit holds the rest.
import { batches } from './workload.js';
import { loadConfig } from '../shared/config/load.js';
import { batchBody } from '../shared/http/parse.js';
import { createStore } from '../shared/store/store.js';
import { parseCommandLine, usageError } from '../support/cli.js';

parseCommandLine({
  usage: 'REDIS_URL=<url> node --expose-gc --import tsx bench/retained.ts',
  summary: [
    'Retained heap per event in flight: twenty 1,000-event batches through the JSON parse, validation and the write',
    'path at once, against the Redis of REDIS_URL; prints {"bytes_per_event", "rounds"} as JSON. npm run bench runs it.',
  ].join('\n'),
  options: {},
  environment: { REDIS_URL: 'the Redis to write to (keys under bench:retained:)' },
  examples: ['REDIS_URL=redis://127.0.0.1:6379 node --expose-gc --import tsx bench/retained.ts'],
});
const gc = (globalThis as { gc?: () => void }).gc;
if (!gc) usageError('run with node --expose-gc --import tsx bench/retained.ts');
const BATCHES = 20;
const store = createStore(loadConfig({ REDIS_URL: process.env.REDIS_URL, KEY_PREFIX: 'bench:retained:', REDIS_COMMAND_TIMEOUT_MS: '30000' }));
const bodies = batches('/ingest/batch', 1000, 1000, BATCHES, 7).map((r) => r.body!);

async function peakPerEvent(): Promise<number> {
  gc!();
  const base = process.memoryUsage().heapUsed;
  let peak = base;
  const timer = setInterval(() => {
    gc!();
    peak = Math.max(peak, process.memoryUsage().heapUsed);
  }, 15);
  await Promise.all(bodies.map((body) => store.recordBatch(batchBody(JSON.parse(body), Date.now(), 1000)).then((outcome) => JSON.stringify(outcome))));
  clearInterval(timer);
  return (peak - base) / (BATCHES * 1000);
}

// The first round loads the scripts and warms the code: the last of three is reported.
const rounds = [await peakPerEvent(), await peakPerEvent(), await peakPerEvent()];
process.stdout.write(`${JSON.stringify({ bytes_per_event: Math.round(rounds[2]!), rounds: rounds.map(Math.round) })}\n`);
await store.close();
