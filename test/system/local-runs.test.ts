import { type ChildProcess, spawn } from 'node:child_process';
import { existsSync, readdirSync, rmSync, rmdirSync } from 'node:fs';
import { connect } from 'node:net';
import { fileURLToPath } from 'node:url';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { request } from '../support/app.js';
import { freePort, startRedis, stopProcess, waitFor } from '../../support/servers.js';

// The local launcher (scripts/start.js) as a newcomer runs it: `npm start`, `npm run start:<function>`.
// Its own redis-server runs on a free port here (LOCAL_REDIS_PORT), never on 6379 or in .data/redis.
const root = fileURLToPath(new URL('../..', import.meta.url));
let redisPort: number;
let dataDir: string;
const launched: Launcher[] = [];

interface Launcher {
  readonly child: ChildProcess;
  readonly url: string;
  output(): string;
  /** Ends the launcher, as Ctrl-C in its terminal does (SIGINT to its process group), or with `signal`. */
  stop(signal?: NodeJS.Signals): Promise<number | null>;
}

/** Starts `node scripts/start.js <target>` in a process group of its own, like a terminal would. */
async function launch(target: string, env: Record<string, string> = {}): Promise<Launcher> {
  const port = await freePort();
  const clean = Object.fromEntries(Object.entries(process.env).filter(([k]) => !/^REDIS_|^PORT$|^SERVER_PORT$/.test(k)));
  const child = spawn(process.execPath, ['scripts/start.js', target], {
    cwd: root,
    env: { ...clean, PORT: String(port), LOCAL_REDIS_PORT: String(redisPort), ...env },
    stdio: ['ignore', 'pipe', 'pipe'],
    detached: true,
  });
  let output = '';
  child.stdout?.on('data', (chunk: Buffer) => (output += chunk.toString()));
  child.stderr?.on('data', (chunk: Buffer) => (output += chunk.toString()));
  const exited = new Promise<number | null>((resolve) => child.once('exit', (code) => resolve(code)));
  const launcher: Launcher = {
    child,
    url: `http://127.0.0.1:${port}`,
    output: () => output,
    async stop(signal = 'SIGINT') {
      if (child.exitCode === null && child.signalCode === null) process.kill(-child.pid!, signal);
      return exited;
    },
  };
  launched.push(launcher);
  return launcher;
}

const ready = async (l: Launcher) => (await request(`${l.url}/health/readiness`)).status === 200;
/** Whether anything accepts connections on the launchers' Redis port. */
const redisListening = () =>
  new Promise<boolean>((resolve) => {
    const socket = connect({ host: '127.0.0.1', port: redisPort });
    socket.once('connect', () => (socket.destroy(), resolve(true)));
    socket.once('error', () => resolve(false));
  });
/** Exit code and output of a launcher that is expected to end by itself. */
async function ends(l: Launcher, timeoutMs = 20_000): Promise<{ code: number | null; output: string }> {
  await waitFor('the launcher to exit', async () => l.child.exitCode !== null, undefined, timeoutMs).catch(() => undefined);
  const code = l.child.exitCode;
  if (code === null) await l.stop('SIGKILL');
  return { code, output: l.output() };
}

beforeAll(async () => {
  redisPort = await freePort();
  dataDir = `${root}.data/redis-${redisPort}`;
});
// Whatever a failed test left, so that the next one starts from nothing: launchers, then their Redis.
afterEach(async () => {
  for (const l of launched.splice(0)) await l.stop('SIGKILL').catch(() => undefined);
  await new Promise<void>((resolve) => {
    const socket = connect({ host: '127.0.0.1', port: redisPort }, () => socket.end('SHUTDOWN NOSAVE\r\n'));
    socket.once('error', () => resolve());
    socket.once('close', () => resolve());
  });
});
afterAll(() => {
  rmSync(dataDir, { recursive: true, force: true });
  // .data itself, if these tests made it (rmdir leaves a folder that holds anything).
  try {
    rmdirSync(`${root}.data`);
  } catch {
    // not empty, or not there
  }
});

describe('npm start with a REDIS_URL that cannot be reached', () => {
  it.each([
    ['redis://127.0.0.1:1', 'redis://127.0.0.1:1'],
    ['redis://:s3cret-password@127.0.0.1:1/2', 'redis://:***@127.0.0.1:1/2'],
  ])('%s: exits 1 with one line naming the URL and what to do', async (url, shown) => {
    const { code, output } = await ends(await launch('api', { REDIS_URL: url }));
    expect(code).toBe(1);
    const lines = output.trim().split('\n').filter((line) => !line.startsWith('Building'));
    expect(lines).toHaveLength(1);
    expect(lines[0]).toContain(`Cannot reach Redis at ${shown} (REDIS_URL)`);
    expect(lines[0]).toMatch(/connection refused/);
    expect(lines[0]).toMatch(/unset REDIS_URL/);
    expect(output).not.toContain('s3cret');
  });
});

describe('a deployed function (functions-framework started directly) with a Redis that cannot be reached', () => {
  it('keeps running and answers its health paths 503 until Redis is there', async () => {
    const port = await freePort();
    const framework = `${root}node_modules/@google-cloud/functions-framework/build/src/main.js`;
    const child = spawn(process.execPath, [framework, '--target=ingest', `--port=${port}`], {
      cwd: root,
      env: { ...process.env, NODE_ENV: 'production', REDIS_URL: 'redis://127.0.0.1:1' },
      stdio: 'ignore',
    });
    try {
      const readiness = async () => (await request(`http://127.0.0.1:${port}/health/readiness`)).status;
      await waitFor('the function to answer', async () => (await readiness()) === 503, child);
      expect((await request(`http://127.0.0.1:${port}/health/liveness`)).status).toBe(503);
      expect(child.exitCode).toBeNull();
    } finally {
      await stopProcess(child);
    }
  });
});

describe('per-function local runs (npm run start:<function>)', () => {
  it('share one redis-server that stops with the last of them, whichever started it', async () => {
    const ingest = await launch('ingest');
    await waitFor('ingest ready', () => ready(ingest), ingest.child, 30_000);
    expect(ingest.output()).toContain(`Started redis-server on 127.0.0.1:${redisPort}`);
    const analyze = await launch('analyze');
    await waitFor('analyze ready', () => ready(analyze), analyze.child, 30_000);
    expect(analyze.output()).toContain(`Sharing the redis-server on 127.0.0.1:${redisPort}`);
    expect((await request(`${ingest.url}/ingest`, { body: { device_id: 'local-1', cpu: 1 } })).status).toBe(202);

    // The first one stops (Ctrl-C): the other goes on, on the same data.
    await ingest.stop();
    for (let i = 0; i < 5; i++) expect(await ready(analyze)).toBe(true);
    expect((await request(`${analyze.url}/analyze?device=local-1`)).body.series).toHaveLength(1);
    expect(await redisListening()).toBe(true);

    // The last one stops: so does Redis, and no launcher is left registered.
    await analyze.stop();
    await waitFor('Redis to stop', async () => !(await redisListening()), undefined, 10_000);
    expect(analyze.output()).toContain(`Stopped redis-server on 127.0.0.1:${redisPort}`);
    expect(readdirSync(`${dataDir}/users`)).toEqual([]);
  });

  it('leave the others working when a launcher is killed, and stop Redis with the last one still running', async () => {
    const stats = await launch('stats');
    await waitFor('stats ready', () => ready(stats), stats.child, 30_000);
    expect(stats.output()).toContain(`Started redis-server on 127.0.0.1:${redisPort}`);
    const analyze = await launch('analyze');
    await waitFor('analyze ready', () => ready(analyze), analyze.child, 30_000);

    // kill -9 of the first run's whole process group (launcher and function; its terminal closed).
    await stats.stop('SIGKILL');
    for (let i = 0; i < 5; i++) expect(await ready(analyze)).toBe(true);

    await analyze.stop();
    await waitFor('Redis to stop', async () => !(await redisListening()), undefined, 10_000);
    expect(existsSync(`${dataDir}/lock`)).toBe(false);
  });

  it('adopt a Redis left running by a crashed last launcher, and stop it when done', async () => {
    const first = await launch('stats');
    await waitFor('stats ready', () => ready(first), first.child, 30_000);
    await first.stop('SIGKILL');
    expect(await redisListening()).toBe(true);

    const next = await launch('analyze');
    await waitFor('analyze ready', () => ready(next), next.child, 30_000);
    expect(next.output()).toContain(`Sharing the redis-server on 127.0.0.1:${redisPort}`);
    await next.stop();
    await waitFor('Redis to stop', async () => !(await redisListening()), undefined, 10_000);
  });

  it('use a Redis on the port that local runs did not start, and leave it running', async () => {
    const own = await startRedis({ port: redisPort });
    try {
      const stats = await launch('stats');
      await waitFor('stats ready', () => ready(stats), stats.child, 30_000);
      expect(stats.output()).not.toMatch(/Started|Sharing/);
      await stats.stop();
      expect(stats.output()).not.toContain('Stopped redis-server');
      expect(own.process.exitCode).toBeNull();
      expect(await redisListening()).toBe(true);
    } finally {
      await own.stop();
    }
  });
});
