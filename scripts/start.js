// Local launcher: `npm start` (all-in-one on 8080) or `npm run start:<function>` (8081-8083).
// Builds when the sources are newer than dist/, finds a Redis (REDIS_URL, or 127.0.0.1:6379, or a
// redis-server it starts itself with data in .data/redis), then runs the target on functions-framework.
import { execFileSync, spawn, spawnSync } from 'node:child_process';
import { existsSync, mkdirSync, readdirSync, statSync } from 'node:fs';
import { connect, createServer } from 'node:net';
import { fileURLToPath } from 'node:url';

const root = fileURLToPath(new URL('..', import.meta.url));
const ports = { api: 8080, ingest: 8081, analyze: 8082, stats: 8083 };
const HELP = `usage: npm start  |  npm run start:<target>  (node scripts/start.js [target])

Builds when the sources changed, finds or starts a Redis, and serves one target on functions-framework.

targets:
  api      every path on one port (default), port 8080
  ingest   the ingest function, port 8081
  analyze  the analyze function, port 8082
  stats    the stats function, port 8083

environment: PORT (or SERVER_PORT) to change the port, REDIS_URL to use a given Redis, and every
setting of the README's configuration table.

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
if (unknown) usage(`Unknown option ${unknown}`);
if (args.length > 1) usage(`Expected at most one target, got ${args.length}`);
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

/** Answers 'pong', 'auth' (a Redis that wants a password) or null (nothing there). */
function probeRedis(host, port) {
  return new Promise((resolve) => {
    const socket = connect({ host, port });
    const done = (result) => {
      socket.destroy();
      resolve(result);
    };
    socket.setTimeout(500, () => done(null));
    socket.once('error', () => done(null));
    socket.once('connect', () => socket.write('PING\r\n'));
    socket.once('data', (data) => {
      const text = data.toString();
      done(text.startsWith('+PONG') ? 'pong' : text.includes('NOAUTH') ? 'auth' : null);
    });
  });
}

async function startOwnRedis() {
  const found = spawnSync('redis-server', ['--version'], { encoding: 'utf8' });
  if (found.error) {
    fail(
      'No Redis: nothing answers on 127.0.0.1:6379 and redis-server is not on PATH. ' +
        'Install it (sudo apt-get install redis-server) or set REDIS_URL=redis://host:port',
    );
  }
  const dir = `${root}.data/redis`;
  mkdirSync(dir, { recursive: true });
  const redis = spawn(
    'redis-server',
    ['--port', '6379', '--bind', '127.0.0.1', '--dir', dir, '--appendonly', 'yes', '--save', '', '--logfile', 'redis.log'],
    { stdio: 'ignore' },
  );
  for (let i = 0; i < 100; i++) {
    if ((await probeRedis('127.0.0.1', 6379)) === 'pong') {
      console.log(`Started redis-server on 127.0.0.1:6379 (data in .data/redis); it stops when this process does.`);
      return redis;
    }
    if (redis.exitCode !== null) break;
    await new Promise((r) => setTimeout(r, 100));
  }
  redis.kill();
  fail('redis-server did not start on 127.0.0.1:6379; set REDIS_URL=redis://host:port to use another Redis');
}

async function main() {
  const env = { ...process.env };
  env.PORT = env.PORT || env.SERVER_PORT || String(ports[target]);
  await ensurePortFree(Number(env.PORT), !process.env.PORT && process.env.SERVER_PORT ? 'SERVER_PORT' : 'PORT');
  buildIfNeeded();
  let ownRedis;
  if (!env.REDIS_URL && !env.REDIS_ADDR && !env.REDIS_HOST) {
    const probe = await probeRedis('127.0.0.1', 6379);
    if (probe === 'auth') fail('The Redis on 127.0.0.1:6379 needs a password: set REDIS_URL=redis://:PASSWORD@127.0.0.1:6379');
    if (probe === null) ownRedis = await startOwnRedis();
  }
  const framework = `${root}node_modules/@google-cloud/functions-framework/build/src/main.js`;
  const child = spawn(process.execPath, [framework, `--target=${target}`], { cwd: root, env, stdio: 'inherit' });

  const stop = (signal) => {
    child.kill(signal);
    ownRedis?.kill('SIGTERM');
  };
  process.on('SIGINT', () => stop('SIGINT'));
  process.on('SIGTERM', () => stop('SIGTERM'));
  child.on('exit', (code, signal) => {
    if (ownRedis && ownRedis.exitCode === null) {
      ownRedis.once('exit', () => process.exit(code ?? (signal ? 0 : 1)));
      ownRedis.kill('SIGTERM');
    } else process.exit(code ?? (signal ? 0 : 1));
  });
}

await main();
