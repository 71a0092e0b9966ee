// npm run soak [-- --quick]: 60 s of single-event ingest at saturation (32 connections, closed loop)
// with 5% bad requests mixed in. Passes when there is no 5xx, the events Redis counted equal the 202s
// answered, and the function's RSS stays flat. Writes bench/results/<date>-soak.json and BENCHMARKS.md.
import { execFileSync } from 'node:child_process';
import { readFileSync, writeFileSync } from 'node:fs';
import autocannon from 'autocannon';
import { Redis } from 'ioredis';
import { startFunction } from '../support/functions.js';
import { startRedis } from '../support/servers.js';
import { singleEvents } from './workload.js';

const quick = process.argv.includes('--quick');
const seconds = quick ? 10 : 60;
const root = new URL('..', import.meta.url);

const BAD = [
  '{"cpu": 1,',
  '{"cpu": "75.5"}',
  '{"CPU": 1}',
  '{"device_id": "a b", "cpu": 1}',
  '[]',
];

execFileSync('npm', ['run', '--silent', 'build'], { stdio: 'inherit' });
const redis = await startRedis();
const fn = await startFunction('ingest', { REDIS_URL: redis.url, KEY_PREFIX: 'soak:' });
const rss = () => Number(/VmRSS:\s+(\d+)/.exec(readFileSync(`/proc/${fn.process.pid}/status`, 'utf8'))![1]) / 1024;
try {
  const good = singleEvents('/ingest', 1000, 2000, 11);
  const requests = good.map((r, i) => (i % 20 === 19 ? { ...r, body: BAD[(i / 20) % BAD.length | 0] } : r));
  // Fixed amounts, not durations: autocannon then waits for every response, so each event the server
  // applies is seen by the client (a duration run drops requests still in flight at its end).
  const warm = await autocannon({ url: fn.url, connections: 32, amount: 5000, requests, headers: { 'content-type': 'application/json' } });
  const amount = Math.round(warm.requests.average * seconds);
  const admin = new Redis(redis.url);
  const before = Number((await admin.hget('soak:{global}:totals', 'events')) ?? 0);

  const samples: number[] = [rss()];
  const timer = setInterval(() => samples.push(rss()), 1000);
  const result = await autocannon({ url: fn.url, connections: 32, amount, requests, headers: { 'content-type': 'application/json' } });
  clearInterval(timer);
  samples.push(rss());

  const codes = Object.fromEntries(Object.entries(result.statusCodeStats ?? {}).map(([code, s]) => [code, (s as { count: number }).count]));
  const accepted = codes['202'] ?? 0;
  const counted = Number((await admin.hget('soak:{global}:totals', 'events')) ?? 0) - before;
  admin.disconnect();
  const serverErrors = Object.entries(codes).filter(([code]) => code.startsWith('5')).reduce((n, [, c]) => n + c, 0);
  const firstThird = samples.slice(0, Math.ceil(samples.length / 3));
  const lastThird = samples.slice(-Math.ceil(samples.length / 3));
  const mean = (xs: number[]) => xs.reduce((a, b) => a + b, 0) / xs.length;
  const growth = mean(lastThird) - mean(firstThird);
  const checks = {
    'no 5xx': serverErrors === 0 && result.errors === 0 && result.timeouts === 0,
    'Redis counted every 202, nothing more': counted === accepted,
    'bad requests refused with 400': (codes['400'] ?? 0) > 0,
    'RSS flat (last third within 10 MB of the first)': growth <= 10,
  };
  const summary = {
    date: new Date().toISOString(),
    seconds,
    requests_per_second: Math.round(result.requests.average),
    status_codes: codes,
    socket_errors: result.errors,
    timeouts: result.timeouts,
    accepted,
    counted_in_redis: counted,
    rss_mb: { start: Math.round(samples[0]!), end: Math.round(samples.at(-1)!), max: Math.round(Math.max(...samples)), growth: Math.round(growth * 10) / 10 },
    checks,
  };
  console.log(JSON.stringify(summary, null, 2));
  const date = summary.date.slice(0, 10);
  writeFileSync(new URL(`bench/results/${date}-soak${quick ? '-quick' : ''}.json`, root), `${JSON.stringify(summary, null, 2)}\n`);
  if (!quick) {
    const path = new URL('BENCHMARKS.md', root);
    const text = readFileSync(path, 'utf8');
    const start = '<!-- soak:start -->';
    const end = '<!-- soak:end -->';
    const table = [
      `Last soak: ${summary.date.slice(0, 16).replace('T', ' ')} UTC, ${seconds} s, 32 connections, 5% bad requests.`,
      '',
      '| requests/s | 202 | 400 | 5xx | socket errors | events counted in Redis | RSS start → end (max) MB |',
      '|---:|---:|---:|---:|---:|---:|---|',
      `| ${summary.requests_per_second} | ${accepted} | ${codes['400'] ?? 0} | ${serverErrors} | ${result.errors} | ${counted} | ${summary.rss_mb.start} → ${summary.rss_mb.end} (${summary.rss_mb.max}) |`,
      '',
      ...Object.entries(checks).map(([name, ok]) => `- ${ok ? 'passed' : '**failed**'}: ${name}`),
    ].join('\n');
    writeFileSync(path, `${text.slice(0, text.indexOf(start) + start.length)}\n${table}\n${text.slice(text.indexOf(end))}`);
  }
  process.exitCode = Object.values(checks).every(Boolean) ? 0 : 1;
} finally {
  await fn.stop();
  await redis.stop();
}
