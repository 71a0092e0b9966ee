import type { HttpFunction, Request, Response } from '@google-cloud/functions-framework';
import { HttpError } from './errors.js';
import { observeRequest } from '../telemetry/metrics.js';

export { HttpError } from './errors.js';
export type { ErrorCode } from './errors.js';

export type Handler = (req: Request, res: Response) => Promise<void> | void;
export type Method = 'GET' | 'POST';
/** Path → method → handler. Paths are exact; a trailing slash is ignored. */
export type Routes = Readonly<Record<string, Partial<Record<Method, Handler>>>>;

/**
 * Turns a route table into the one HTTP function functions-framework calls for every path:
 * 404 for unknown paths, 405 with `Allow` for wrong methods, HttpError as it is, and anything else
 * as 503 (Redis unreachable) or a bare 500 after one JSON log line. Every request is timed.
 */
export function serve(functionName: string, routes: Routes): HttpFunction {
  const table = new Map(Object.entries(routes));
  return async (req: Request, res: Response) => {
    const started = process.hrtime.bigint();
    const path = req.path.length > 1 && req.path.endsWith('/') ? req.path.slice(0, -1) : req.path;
    const methods = table.get(path);
    const method = req.method === 'HEAD' ? 'GET' : req.method;
    try {
      if (!methods) {
        throw new HttpError(404, 'not_found', `No such path: ${path.slice(0, 200)}`, { paths: [...table.keys()] });
      }
      const handler = methods[method as Method];
      if (!handler) {
        const allow = Object.keys(methods).join(', ');
        throw new HttpError(405, 'method_not_allowed', `${path} accepts ${allow}`, undefined, { Allow: allow });
      }
      await handler(req, res);
    } catch (error) {
      sendError(res, toHttpError(error, functionName, req));
    } finally {
      const seconds = Number(process.hrtime.bigint() - started) / 1e9;
      observeRequest(functionName, req.method, methods ? path : 'unmatched', res.statusCode, seconds);
    }
  };
}

function toHttpError(error: unknown, functionName: string, req: Request): HttpError {
  if (error instanceof HttpError) return error;
  if (isRedisUnavailable(error)) {
    return new HttpError(503, 'unavailable', 'The data store is unavailable; retry shortly', undefined, { 'Retry-After': '1' });
  }
  console.error(
    JSON.stringify({
      severity: 'ERROR',
      message: 'unhandled error',
      function: functionName,
      method: req.method,
      path: req.path,
      error: error instanceof Error ? error.stack : String(error),
    }),
  );
  return new HttpError(500, 'internal', 'Internal error');
}

function isRedisUnavailable(error: unknown): boolean {
  if (!(error instanceof Error)) return false;
  return (
    error.name === 'MaxRetriesPerRequestError' ||
    /Connection is closed|Command timed out|ECONNREFUSED|ECONNRESET|Stream isn't writeable|LOADING|CLUSTERDOWN|TRYAGAIN/.test(
      error.message,
    )
  );
}

function sendError(res: Response, error: HttpError): void {
  if (res.headersSent) {
    res.end();
    return;
  }
  res.set(error.headers);
  const body: Record<string, unknown> = { error: error.code, message: error.message };
  if (error.details !== undefined) body.details = error.details;
  res.status(error.status).json(body);
  if (error.status === 413) lingerThenClose(res);
}

const LINGER_MS = 2000;
const LINGER_BYTES = 8 * 1024 * 1024;

/**
 * After a 413 the client is usually still uploading. Closing at once, with its data unread, makes the
 * kernel reset the connection, which can wipe the 413 out of the client's buffer before it reads it.
 * So Node reads and drops the rest of the upload (nothing is kept) for a moment, and then the
 * connection is cut: after 2 s or 8 MiB more, whichever comes first.
 */
function lingerThenClose(res: Response): void {
  const socket = res.req.socket;
  const start = socket.bytesRead;
  const check = setInterval(() => {
    if (socket.destroyed || socket.bytesRead - start > LINGER_BYTES) done();
  }, 50);
  const timer = setTimeout(() => done(), LINGER_MS);
  check.unref();
  timer.unref();
  function done() {
    clearInterval(check);
    clearTimeout(timer);
    socket.destroy();
  }
}
