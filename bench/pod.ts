// The ingest pod as knative/ingest.yaml deploys it (support/pod.ts reads the manifest), at twice its
// containerConcurrency: maximum-size batches, then single events. Rows: events/s acknowledged, with the
// refusals (503 overloaded) as failures; RSS per load against the pod's memory limit; and the retained
// heap per event in flight (bench/retained.ts).
import { execFileSync } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { type LoadTally, ingestPod, sendUntil } from '../support/pod.js';
import { type Harness, log } from './harness.js';
import type { Throughput } from './load.js';
import { round } from './report.js';
import { batches, singleEvents } from './workload.js';

const root = fileURLToPath(new URL('..', import.meta.url));

/** The deployed ingest pod's rows. */
export async function deployedPod(h: Harness): Promise<void> {
  const pod = ingestPod();
  log(`deployed ingest pod: containerConcurrency ${pod.concurrency}, limit ${pod.memoryLimitMb} Mi, ${Object.entries(pod.env).filter(([k]) => /NODE_OPTIONS|INFLIGHT|ADMISSION/.test(k)).map(([k, v]) => `${k}=${v}`).join(' ')}`);
  const loads = [
    { name: `${2 * pod.concurrency} clients of 1000-event batches from 1000 devices`, path: '/ingest/batch', bodies: batches('/ingest/batch', 1000, 1000, 10).map((r) => r.body!) },
    { name: `${2 * pod.concurrency} clients of single events`, path: '/ingest', bodies: singleEvents('/ingest', 1000, 2000).map((r) => r.body!) },
  ];
  for (const load of loads) {
    const fn = await h.start('ingest', { ...h.env('pod'), ...pod.env, PUSHGATEWAY_URL: '' });
    const tally: LoadTally = { statuses: {}, acknowledged: 0, refusalsWithoutRetryAfter: 0 };
    const name = `deployed pod: ${load.name}`;
    const stop = h.sampleRss(name, fn.process.pid!, 100);
    await h.measure(name, () => podLoad(fn.url, load.path, load.bodies, 2 * pod.concurrency, h.durations.seconds, tally), { perRequest: 1, unit: 'events/s', pids: [fn.process.pid!] });
    stop();
    const rss = h.rss[name]!;
    log(`    max RSS ${rss.max} MB = ${round((100 * rss.max) / pod.memoryLimitMb, 1)}% of ${pod.memoryLimitMb} Mi; answers ${JSON.stringify(tally.statuses)}; alive ${fn.process.exitCode === null}`);
    await fn.stop();
  }
  const retained = JSON.parse(execFileSync(process.execPath, ['--expose-gc', '--import', 'tsx', 'bench/retained.ts'], { cwd: root, env: { ...process.env, REDIS_URL: h.env('pod').REDIS_URL } }).toString()) as { bytes_per_event: number };
  h.rows.push({ case: 'retained heap per event in flight (20 batches of 1000 from 1000 devices at once)', value: retained.bytes_per_event, unit: 'B/event', ratio: 0, failures: 0 });
  log(`  retained heap per event in flight: ${retained.bytes_per_event} B`);
}

/** The load as a closed loop's figures: acknowledged events per second, refusals as failures. */
async function podLoad(url: string, path: string, bodies: string[], clients: number, seconds: number, tally: LoadTally): Promise<Throughput> {
  const started = Date.now();
  await sendUntil(url, path, bodies, clients, started + seconds * 1000, tally);
  const elapsed = (Date.now() - started) / 1000;
  const answers = Object.values(tally.statuses).reduce((a, b) => a + b, 0);
  return { rps: tally.acknowledged / elapsed, p50: 0, p99: 0, failures: answers - (tally.statuses['202'] ?? 0), requests: tally.acknowledged };
}
