import { readFileSync } from 'node:fs';
import { type IncomingHttpHeaders, type IncomingMessage, type ServerResponse, createServer } from 'node:http';
import { createServer as createTlsServer } from 'node:https';
import type { AddressInfo } from 'node:net';

/** One request the sink received. */
export interface Received {
  readonly method: string;
  /** The client's port: requests over one kept-alive connection share it. */
  readonly port: number;
  readonly headers: IncomingHttpHeaders;
  readonly body: string;
  /** The status the sink answered. */
  readonly status: number;
}

export interface Sink {
  readonly url: string;
  /** Every request, in arrival order (none kept with `keep: false`). */
  readonly received: Received[];
  /** How many requests it answered. */
  count(): number;
  /** Decides the status of the next requests (default: 202 to all). */
  answer(status: (request: Received['headers']) => number, delayMs?: number): void;
  stop(): Promise<void>;
}

export interface SinkOptions {
  /** Record every request (the default), or only count them (a long benchmark). */
  keep?: boolean;
  /** Serve HTTPS with this certificate and key (PEM files). */
  tls?: { cert: string; key: string };
}

/**
 * An HTTP(S) sink on a free loopback port, as a Knative Broker or a receiver would be: records every
 * request, or with `keep: false` only counts them.
 */
export async function startSink({ keep = true, tls }: SinkOptions = {}): Promise<Sink> {
  const received: Received[] = [];
  let count = 0;
  let decide: (headers: IncomingHttpHeaders) => number = () => 202;
  let delay = 0;
  const handle = (req: IncomingMessage, res: ServerResponse) => {
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', () => {
      const status = decide(req.headers);
      const answer = () => {
        count += 1;
        if (keep) received.push({ method: req.method ?? '', port: req.socket.remotePort ?? 0, headers: req.headers, body: Buffer.concat(chunks).toString(), status });
        res.writeHead(status).end();
      };
      if (delay > 0) setTimeout(answer, delay);
      else answer();
    });
  };
  const server = tls ? createTlsServer({ cert: readFileSync(tls.cert), key: readFileSync(tls.key) }, handle) : createServer(handle);
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as AddressInfo;
  return {
    url: `${tls ? 'https' : 'http'}://127.0.0.1:${port}/`,
    received,
    count: () => count,
    answer(status, delayMs = 0) {
      decide = status;
      delay = delayMs;
    },
    async stop() {
      server.closeAllConnections();
      await new Promise((resolve) => server.close(resolve));
    },
  };
}
