import { connect } from 'node:net';

/**
 * Sends `method path` with up to `totalMb` MB of body in 1 MB chunks over a raw socket until the server
 * answers, and returns the status and body it sent. (Node's HTTP client drops a response that arrives
 * while its upload fails with EPIPE; a raw socket keeps every byte the server sent.)
 */
export function rawUpload(
  baseUrl: string,
  target: { method: string; path: string },
  headers: Record<string, string>,
  totalMb = 50,
): Promise<{ status: number; body: string }> {
  return new Promise((resolve) => {
    const url = new URL(baseUrl);
    const socket = connect({ host: url.hostname, port: Number(url.port) });
    let received = '';
    let sentMb = 0;
    const head = Object.entries({ host: url.host, ...headers }).map(([k, v]) => `${k}: ${v}\r\n`).join('');
    const chunked = headers['transfer-encoding'] === 'chunked';
    const chunk = Buffer.alloc(1024 * 1024, 0x20);
    const frame = (data: Buffer | string) => (chunked ? [`${Buffer.byteLength(data).toString(16)}\r\n`, data, '\r\n'] : [data]);
    const write = () => {
      while (!received && sentMb < totalMb && !socket.destroyed) {
        sentMb++;
        const parts = frame(chunk);
        parts.slice(0, -1).forEach((p) => socket.write(p));
        if (!socket.write(parts.at(-1)!)) return void socket.once('drain', write);
      }
    };
    socket.on('connect', () => {
      socket.write(`${target.method} ${target.path} HTTP/1.1\r\n${head}\r\n`);
      frame('[').forEach((p) => socket.write(p));
      write();
    });
    socket.on('data', (data: Buffer) => {
      received += data.toString();
      const [top, body = ''] = received.split('\r\n\r\n');
      const length = Number(/content-length: (\d+)/i.exec(top ?? '')?.[1] ?? -1);
      if (length >= 0 && Buffer.byteLength(body) >= length) {
        resolve({ status: Number(/^HTTP\/1\.1 (\d+)/.exec(received)?.[1]), body: body.slice(0, length) });
        socket.destroy();
      }
    });
    // Writes fail once the server closes; what it sent has been read already.
    socket.on('error', () => undefined);
    setTimeout(() => {
      resolve({ status: Number.NaN, body: `no complete response after 15 s; sent ${sentMb} MB; received: ${received.slice(0, 300)}` });
      socket.destroy();
    }, 15_000);
  });
}
