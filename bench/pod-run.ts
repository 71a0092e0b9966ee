// npm run bench:pod [-- --quick]: the deployed ingest pod's rows of the bench alone (bench/pod.ts).
import { execFileSync } from 'node:child_process';
import { parseCommandLine, runCommand } from '../support/cli.js';
import { startRedis } from '../support/servers.js';
import { Harness, log } from './harness.js';
import { deployedPod } from './pod.js';

const { values } = parseCommandLine({
  usage: 'npm run bench:pod -- [options]',
  summary: [
    'The ingest pod of knative/ingest.yaml (its NODE_OPTIONS, MAX_INFLIGHT_BYTES, memory limit and containerConcurrency)',
    'at twice its concurrency: events/s acknowledged, refusals, max RSS against the limit; and the retained heap per event in flight.',
  ].join('\n'),
  options: { quick: { type: 'boolean', doc: '3 s per load instead of 10' } },
  examples: ['npm run bench:pod', 'npm run bench:pod -- --quick'],
});

await runCommand(async () => {
  execFileSync('npm', ['run', '--silent', 'build'], { stdio: 'inherit' });
  const redis = await startRedis();
  const h = new Harness({ seconds: values.quick ? 3 : 10, warmup: 1, soakSeconds: 0 }, redis.url);
  try {
    await deployedPod(h);
    log(JSON.stringify({ rows: h.rows, rss_mb: h.rss }));
  } finally {
    await h.close();
    await redis.stop();
  }
});
