// The redis-server that local runs share (npm start, npm run start:<function>, scripts/start.js).
// The first launcher that needs one starts it, detached, so that Ctrl-C in one terminal does not stop
// it under the others; every launcher registers in .data/redis/users/<pid>, and the last one to leave
// shuts it down. A launcher that was killed is forgotten (its pid is gone): the others keep working,
// and a Redis it left running is taken over by the next launcher and stopped by the last one.
// Registering and leaving hold .data/redis/lock, so that a launcher starting never sees a Redis that
// another one is stopping.
import { spawn, spawnSync } from 'node:child_process';
import { mkdirSync, readFileSync, readdirSync, realpathSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { connect } from 'node:net';
import { setTimeout as sleep } from 'node:timers/promises';

/** Sends one command to 127.0.0.1:`port` and resolves with the reply's text, or null when nothing answers. */
export function ask(port, command, host = '127.0.0.1') {
  return new Promise((resolve) => {
    const socket = connect({ host, port });
    let text = '';
    const done = (result) => {
      socket.destroy();
      resolve(result);
    };
    socket.setTimeout(500, () => done(text || null));
    socket.once('error', () => done(text || null));
    socket.once('connect', () => socket.write(`${command}\r\n`));
    socket.on('data', (data) => {
      text += data.toString();
      // A simple reply or an error is one line; CONFIG GET is an array of two bulk strings (five lines).
      if ((/^[+-]/.test(text) && text.endsWith('\r\n')) || text.split('\r\n').length > 5) done(text);
    });
    socket.once('close', () => done(text || null));
  });
}

/** Answers 'pong', 'auth' (a Redis that wants a password) or null (nothing there). */
export async function probeRedis(port, host = '127.0.0.1') {
  const text = await ask(port, 'PING', host);
  return text?.startsWith('+PONG') ? 'pong' : text?.includes('NOAUTH') ? 'auth' : null;
}

/** The folder of the shared Redis on `port`: .data/redis for 6379, .data/redis-<port> for another. */
export function localRedisDir(root, port) {
  return `${root}.data/redis${port === 6379 ? '' : `-${port}`}`;
}

const alive = (pid) => {
  try {
    process.kill(pid, 0);
    return true;
  } catch (error) {
    return error.code === 'EPERM';
  }
};

/** Runs `body` holding `dir`/lock (a folder: mkdir is atomic); a lock whose holder is gone is broken. */
async function withLock(dir, body) {
  const lock = `${dir}/lock`;
  for (let i = 0; ; i++) {
    try {
      mkdirSync(lock);
      writeFileSync(`${lock}/pid`, String(process.pid));
      break;
    } catch (error) {
      if (error.code !== 'EEXIST') throw error;
      if (i >= 300 || lockAbandoned(lock)) rmSync(lock, { recursive: true, force: true });
      else await sleep(50);
    }
  }
  // `fail` inside `body` exits at once, past the finally: leave no lock behind then either.
  const unlock = () => rmSync(lock, { recursive: true, force: true });
  process.once('exit', unlock);
  try {
    return await body();
  } finally {
    process.off('exit', unlock);
    unlock();
  }
}

function lockAbandoned(lock) {
  try {
    return !alive(Number(readFileSync(`${lock}/pid`, 'utf8')));
  } catch {
    // Taken but its pid not written yet, or just released: abandoned only if that lasts.
    try {
      return Date.now() - statSync(lock).mtimeMs > 5000;
    } catch {
      return false;
    }
  }
}

/** The launchers registered and still running (the files of killed ones are removed). */
function users(dir) {
  const live = [];
  for (const name of readdirSync(`${dir}/users`)) {
    if (alive(Number(name))) live.push(name);
    else rmSync(`${dir}/users/${name}`, { force: true });
  }
  return live;
}

/** Whether the Redis on `port` is the one local runs share (its data folder is `dir`), not someone else's. */
async function isShared(port, dir) {
  // Redis answers its working directory, symbolic links resolved.
  return (await ask(port, 'CONFIG GET dir'))?.includes(`\r\n${realpathSync(dir)}\r\n`) ?? false;
}

async function startRedis(port, dir, fail) {
  if (spawnSync('redis-server', ['--version']).error) {
    fail(`No Redis: nothing answers on 127.0.0.1:${port} and redis-server is not on PATH. Install it (sudo apt-get install redis-server) or set REDIS_URL=redis://host:port`);
  }
  const args = ['--port', String(port), '--bind', '127.0.0.1', '--dir', dir, '--appendonly', 'yes', '--save', '', '--logfile', 'redis.log'];
  spawn('redis-server', args, { detached: true, stdio: 'ignore' }).unref();
  // Another launcher may have won the port meanwhile: any Redis answering there will do.
  for (let i = 0; i < 100; i++) {
    if ((await probeRedis(port)) === 'pong') return;
    await sleep(100);
  }
  fail(`redis-server did not start on 127.0.0.1:${port} (see ${dir}/redis.log); set REDIS_URL=redis://host:port to use another Redis`);
}

/**
 * Registers this launcher as a user of the Redis on 127.0.0.1:`port`, starting the shared redis-server
 * when nothing answers there; `fail` prints one line and exits. Returns `release`, which unregisters
 * and, for the last user, shuts the shared redis-server down (never a Redis that local runs did not start).
 */
export async function useLocalRedis(root, port, fail) {
  const dir = localRedisDir(root, port);
  const shown = dir.slice(root.length);
  mkdirSync(`${dir}/users`, { recursive: true });
  const me = `${dir}/users/${process.pid}`;
  await withLock(dir, async () => {
    writeFileSync(me, '');
    const found = await probeRedis(port);
    if (found === 'auth') {
      rmSync(me, { force: true });
      fail(`The Redis on 127.0.0.1:${port} needs a password: set REDIS_URL=redis://:PASSWORD@127.0.0.1:${port}`);
    }
    if (found === null) {
      await startRedis(port, dir, (line) => (rmSync(me, { force: true }), fail(line)));
      console.log(`Started redis-server on 127.0.0.1:${port} (data in ${shown}); it stops when the last local run using it stops.`);
    } else if (await isShared(port, dir)) {
      console.log(`Sharing the redis-server on 127.0.0.1:${port} that another local run started (data in ${shown}); it stops when the last local run using it stops.`);
    }
  });
  return () => withLock(dir, () => leave(port, dir, me));
}

async function leave(port, dir, me) {
  rmSync(me, { force: true });
  if (users(dir).length > 0 || !(await isShared(port, dir))) return;
  await ask(port, 'SHUTDOWN');
  for (let i = 0; i < 100 && (await probeRedis(port)) !== null; i++) await sleep(50);
  console.log(`Stopped redis-server on 127.0.0.1:${port} (no local run uses it any more).`);
}
