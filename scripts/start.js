// Local launcher: `npm start` (all-in-one on 8080) or `npm run start:<function>` (8081-8083).
// Builds when the sources are newer than dist/, finds a Redis (REDIS_URL, which must answer, or
// 127.0.0.1:6379, or a redis-server that local runs share: scripts/local-redis.js), then runs the target
// on functions-framework. A deployed function is started by functions-framework itself, not by this.
import { execFileSync, spawn } from 'node:child_process';
import { existsSync, readdirSync, statSync } from 'node:fs';
import { connect, createServer } from 'node:net';
import { fileURLToPath } from 'node:url';
import { useLocalRedis } from './local-redis.js';

const root = fileURLToPath(new URL('..', import.meta.url));
const ports = { api: 8080, ingest: 8081, analyze: 8082, stats: 8083 };
const HELP = `usage: npm start  |  npm run start:<target>  (node scripts/start.js [target])

Builds when the sources changed, finds or starts a Redis, and serves one target on functions-framework.

targets:
  api      every path on one port (default), port 8080
  ingest   the ingest function, port 8081
  analyze  the analyze function, port 8082
  stats    the stats function, port 8083

options:
  --help   print this help and exit (nothing is built or started)

Redis: REDIS_URL (or REDIS_ADDR, REDIS_HOST, REDIS_CLUSTER_NODES) when set, and it must answer at
start, else this exits with one line; otherwise the Redis on 127.0.0.1:6379, or a redis-server started
for local runs (data in .data/redis). Local runs share that redis-server, whichever started it; it
stops when the last of them stops.

environment: PORT (or SERVER_PORT) to change the port, REDIS_URL to use a given Redis,
LOCAL_REDIS_PORT for the local Redis's port (default 6379; data in .data/redis-<port> for another),
and every setting of the configuration table (docs/operations.md).

examples:
  npm start
  PORT=9000 npm run start:ingest
  REDIS_URL=redis://127.0.0.1:6380 npm start
`;
const args = process.argv.slice(2);
if (args.includes('--help') || args.includes('-h')) {
  process.stdout.write(HELP);
  process.exit(0);
}
const unknown = args.find((a) => a.startsWith('-'));
if (unknown) usage(`Unknown option '${unknown}'`);
if (args.length > 1) usage(`Expected at most one target, got ${args.length}: ${args.join(' ')}`);
const target = args[0] ?? 'api';
if (!(target in ports)) usage(`Unknown target "${target}": use one of ${Object.keys(ports).join(', ')}`);

function fail(line) {
  console.error(line);
  process.exit(1);
}

function usage(line) {
  console.error(`${line} (see --help)`);
  process.exit(2);
}

/** Resolves when `port` can be listened on (as the framework will, on every interface), else ends with one line. */
function ensurePortFree(port, variable) {
  return new Promise((resolve) => {
    const probe = createServer();
    probe.once('error', (error) => {
      if (error.code === 'EADDRINUSE') fail(`Port ${port} is already in use: stop what holds it or set ${variable} to another port`);
      if (error.code === 'EACCES') fail(`Port ${port} needs privileges this process does not have: set ${variable} to a port above 1023`);
      fail(`Cannot listen on port ${port}: ${error.message}`);
    });
    probe.listen(port, () => probe.close(() => resolve()));
  });
}

function newest(dir) {
  let latest = 0;
  for (const entry of readdirSync(dir, { withFileTypes: true })) {
    const path = `${dir}/${entry.name}`;
    latest = Math.max(latest, entry.isDirectory() ? newest(path) : statSync(path).mtimeMs);
  }
  return latest;
}

function buildIfNeeded() {
  const entry = `${root}dist/functions/index.js`;
  const sources = Math.max(newest(`${root}functions`), newest(`${root}shared`));
  if (existsSync(entry) && statSync(entry).mtimeMs >= sources) return;
  console.log('Building (sources changed since the last build)...');
  execFileSync('npm', ['run', '--silent', 'build'], { cwd: root, stdio: 'inherit' });
}

/** Words for the errors of a connection that could not be made. */
const REASONS = { ECONNREFUSED: 'connection refused', ENOTFOUND: 'unknown host', EAI_AGAIN: 'host name not resolved', EHOSTUNREACH: 'host unreachable', ENETUNREACH: 'network unreachable' };

/** Resolves null when a TCP connection to host:port opens (TLS and passwords are the service's business), else the reason. */
function reach(host, port) {
  return new Promise((resolve) => {
    const socket = connect({ host, port });
    const done = (reason) => {
      socket.destroy();
      resolve(reason);
    };
    socket.setTimeout(2000, () => done('no answer within 2 s'));
    socket.once('connect', () => done(null));
    socket.once('error', (error) => done(REASONS[error.code] ?? error.message));
  });
}

const REDIS_VARIABLES = ['REDIS_CLUSTER_NODES', 'REDIS_URL', 'REDIS_ADDR', 'REDIS_HOST'];

/**
 * The Redis the environment names must answer now: a local run against a Redis that is not there
 * would only serve 503s. Read as the service reads it (dist/shared/config/load.js); the password never shown.
 */
async function checkConfiguredRedis(env) {
  const { ConfigError, loadConfig } = await import(new URL('../dist/shared/config/load.js', import.meta.url).href);
  let config;
  try {
    config = loadConfig(env);
  } catch (error) {
    if (error instanceof ConfigError) fail(error.message);
    throw error;
  }
  const variable = REDIS_VARIABLES.find((v) => env[v]);
  const url = new URL(config.redisUrl);
  if (url.password) url.password = '***';
  const cluster = config.redisClusterNodes.length > 0;
  const nodes = cluster ? config.redisClusterNodes : [{ host: url.hostname.replace(/^\[|\]$/g, ''), port: Number(url.port || 6379) }];
  let reason;
  for (const { host, port } of nodes) {
    reason = await reach(host, port);
    if (reason === null) return;
  }
  const where = cluster ? `any node of ${nodes.map((n) => `${n.host}:${n.port}`).join(', ')}` : url.href;
  fail(`Cannot reach Redis at ${where} (${variable}): ${reason}. Start that Redis, correct ${variable}, or unset ${variable} to let npm start use or start one on 127.0.0.1:${localRedisPort(env)}`);
}

/** The port of the local Redis (LOCAL_REDIS_PORT, default 6379). */
function localRedisPort(env) {
  const raw = env.LOCAL_REDIS_PORT;
  if (raw === undefined || raw === '') return 6379;
  const port = Number(raw);
  if (!/^\d+$/.test(raw) || port < 1 || port > 65535) fail(`LOCAL_REDIS_PORT must be a port from 1 to 65535 (got "${raw}")`);
  return port;
}

/** Checks the Redis the environment names, or joins (or starts) the local one; returns what to do on exit. */
async function findRedis(env) {
  if (REDIS_VARIABLES.some((v) => env[v])) {
    await checkConfiguredRedis(env);
    return async () => undefined;
  }
  const port = localRedisPort(env);
  env.REDIS_URL = `redis://127.0.0.1:${port}`;
  return useLocalRedis(root, port, fail);
}

async function main() {
  const env = { ...process.env };
  env.PORT = env.PORT || env.SERVER_PORT || String(ports[target]);
  await ensurePortFree(Number(env.PORT), !process.env.PORT && process.env.SERVER_PORT ? 'SERVER_PORT' : 'PORT');
  buildIfNeeded();
  const release = await findRedis(env);
  const framework = `${root}node_modules/@google-cloud/functions-framework/build/src/main.js`;
  const child = spawn(process.execPath, [framework, `--target=${target}`], { cwd: root, env, stdio: 'inherit' });

  // Ctrl-C reaches the function too (same process group); the local Redis is in a group of its own.
  for (const signal of ['SIGINT', 'SIGTERM', 'SIGHUP']) process.on(signal, () => child.kill(signal));
  child.on('exit', async (code, signal) => {
    await release().catch((error) => console.error(`Could not leave the local Redis: ${error.message}`));
    process.exit(code ?? (signal ? 0 : 1));
  });
}

await main();
