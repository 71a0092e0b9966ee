import { type Server, type Socket, connect, createServer } from 'node:net';

export interface CutProxy {
  /** The proxy's redis:// URL (same server, through the proxy). */
  readonly url: string;
  /** Connections cut so far. */
  readonly cuts: number;
  /** Cut the next connection whose client sends `marker` (the command is not forwarded), `times` times. */
  arm(marker: string | Buffer, times?: number): void;
  close(): Promise<void>;
}

/**
 * A TCP proxy in front of Redis that cuts a client's connection at a chosen command: when the client
 * sends bytes containing the armed marker (a script's SHA1, say), those bytes are dropped and both
 * sides are closed, so the command is neither run nor answered. Deterministic where killing Redis at
 * the right moment is luck.
 */
export async function startCutProxy(upstreamPort: number): Promise<CutProxy> {
  let marker: Buffer | undefined;
  let remaining = 0;
  let cuts = 0;
  const sockets = new Set<Socket>();
  const server: Server = createServer((client) => {
    const upstream = connect(upstreamPort, '127.0.0.1');
    for (const s of [client, upstream]) {
      sockets.add(s);
      s.on('close', () => sockets.delete(s));
      s.on('error', () => undefined);
    }
    upstream.pipe(client);
    client.on('data', (chunk: Buffer) => {
      if (marker && remaining > 0 && chunk.includes(marker)) {
        remaining--;
        cuts++;
        client.destroy();
        upstream.destroy();
        return;
      }
      upstream.write(chunk);
    });
    client.on('close', () => upstream.destroy());
    upstream.on('close', () => client.destroy());
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as { port: number };
  return {
    url: `redis://127.0.0.1:${port}`,
    get cuts() {
      return cuts;
    },
    arm(next, times = 1) {
      marker = Buffer.isBuffer(next) ? next : Buffer.from(next);
      remaining = times;
    },
    async close() {
      for (const s of sockets) s.destroy();
      await new Promise((resolve) => server.close(resolve));
    },
  };
}
