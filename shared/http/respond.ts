import type { Response } from '@google-cloud/functions-framework';
import type { HttpError } from './errors.js';

/** A sender protocol's error body for a refusal (the Content-Type and the bytes). */
export type ErrorShape = (error: HttpError) => { type: string; body: string | Uint8Array };

/** Sends an HttpError with its status and headers: as `{error, message, details?}`, or in a protocol's `shape`. */
export function sendError(res: Response, error: HttpError, shape?: ErrorShape): void {
  if (res.headersSent) {
    res.end();
    return;
  }
  res.set(error.headers);
  if (shape) {
    const { type, body } = shape(error);
    res.status(error.status).type(type).send(typeof body === 'string' ? body : Buffer.from(body));
  } else {
    const body: Record<string, unknown> = { error: error.code, message: error.message };
    if (error.details !== undefined) body.details = error.details;
    res.status(error.status).json(body);
  }
  if (error.status === 413) lingerThenClose(res);
}

const LINGER_MS = 2000;
const LINGER_BYTES = 8 * 1024 * 1024;

/**
 * After a 413 the client is usually still uploading. Closing at once, with its data unread, makes the
 * kernel reset the connection, which can wipe the 413 out of the client's buffer before it reads it.
 * So Node reads and drops the rest of the upload (nothing is kept): once it has all arrived, the
 * connection serves the client's next request as any other; an upload that goes on for more than
 * 2 s or 8 MiB is cut there.
 */
function lingerThenClose(res: Response): void {
  const request = res.req;
  const socket = request.socket;
  const start = socket.bytesRead;
  // The body reader stopped at the limit and paused the request: read on, into nothing.
  request.resume();
  const check = setInterval(() => {
    if (socket.destroyed || socket.bytesRead - start > LINGER_BYTES) done(true);
  }, 50);
  const timer = setTimeout(() => done(true), LINGER_MS);
  check.unref();
  timer.unref();
  if (request.complete) done(false);
  else request.once('end', () => done(false));
  function done(cut: boolean) {
    clearInterval(check);
    clearTimeout(timer);
    if (cut) socket.destroy();
  }
}
