import { execFile } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { Redis } from 'ioredis';
import { type Running, freePort, stopProcess, waitFor } from './servers.js';
import { spawn } from 'node:child_process';

const run = promisify(execFile);

export interface RedisCluster {
  /** host:port,host:port,host:port — the REDIS_CLUSTER_NODES form. */
  readonly nodes: string;
  readonly ports: number[];
  stop(): Promise<void>;
}

/** Three masters on free loopback ports, joined with redis-cli --cluster create, without persistence. */
export async function startRedisCluster(): Promise<RedisCluster> {
  const dir = mkdtempSync(join(tmpdir(), 'iot-cluster-'));
  const ports = [await freePort(), await freePort(), await freePort()];
  const servers: Running['process'][] = [];
  try {
    for (const port of ports) {
      const child = spawn(
        'redis-server',
        ['--port', String(port), '--bind', '127.0.0.1', '--cluster-enabled', 'yes', '--cluster-config-file', `nodes-${port}.conf`,
          '--cluster-node-timeout', '2000', '--save', '', '--appendonly', 'no', '--dir', dir],
        { stdio: 'ignore' },
      );
      servers.push(child);
      const probe = new Redis({ port, host: '127.0.0.1', lazyConnect: true, maxRetriesPerRequest: 0, retryStrategy: () => null });
      probe.on('error', () => undefined); // refused until the server listens
      await waitFor(`cluster node ${port}`, async () => {
        await probe.connect().catch(() => undefined);
        return (await probe.ping()) === 'PONG';
      }, child);
      probe.disconnect();
    }
    await run('redis-cli', ['--cluster', 'create', ...ports.map((p) => `127.0.0.1:${p}`), '--cluster-replicas', '0', '--cluster-yes']);
    for (const port of ports) {
      const node = new Redis({ port, host: '127.0.0.1' });
      await waitFor('cluster_state:ok', async () => /cluster_state:ok/.test(await node.cluster('INFO')));
      node.disconnect();
    }
  } catch (error) {
    await Promise.all(servers.map(stopProcess));
    rmSync(dir, { recursive: true, force: true });
    throw error;
  }
  return {
    nodes: ports.map((p) => `127.0.0.1:${p}`).join(','),
    ports,
    async stop() {
      await Promise.all(servers.map(stopProcess));
      rmSync(dir, { recursive: true, force: true });
    },
  };
}
