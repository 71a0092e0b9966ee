import type { HttpFunction, Request } from '@google-cloud/functions-framework';
import { StoreFullError, StoreUnavailableError } from '../store/errors.js';
import { type Metrics, processMetrics } from '../telemetry/metrics.js';
import { type Principal, accessCheck } from './auth.js';
import { type DeviceKey, deviceTokenVerifier } from './device-tokens.js';
import { type Admit, admission } from './admission.js';
import { type DeclaredBody, installBodyOwnership, readBody, readBytes, reclaimBody } from './body.js';
import { HttpError, storeFull } from './errors.js';
import { sendError } from './respond.js';
import { type Handler, METHODS, type Method, type Routes, type Wire } from './routes.js';

export interface PipelineOptions {
  /** Largest request body, enforced while reading (MAX_BODY_BYTES). */
  readonly maxBodyBytes: number;
  /** Request bytes in flight in this process (MAX_INFLIGHT_BYTES), and how long one waits for room. */
  readonly maxInflightBytes: number;
  readonly admissionWaitMs: number;
}

interface Compiled {
  readonly handler: Handler;
  readonly authorize: (header: string | undefined) => Principal | Promise<Principal>;
}
interface CompiledRoute {
  readonly methods: ReadonlyMap<Method, Compiled>;
  /** A sender protocol's path: bytes for a body, its token forms, its error shape (for every method). */
  readonly wire?: Wire;
}

const bodies = new WeakMap<Request, unknown>();
const principals = new WeakMap<Request, Principal>();

/**
 * The one request pipeline of every function, in this order: timing, route (404), method (405), bearer
 * token (401), body (415/413/400, read here under the limit, never by the framework), handler, and the
 * error mapping: HttpError as it is, the store's unavailability as 503, anything else as a bare 500
 * after one JSON log line. Requests are counted on `metrics` (the process's unless given).
 */
export function serve(functionName: string, routes: Routes, options: PipelineOptions, metrics: Pick<Metrics, 'observeRequest'> = processMetrics()): HttpFunction {
  installBodyOwnership();
  const table = compile(routes);
  const admit = admission(options.maxInflightBytes, options.admissionWaitMs);
  return async (req, res) => {
    const started = process.hrtime.bigint();
    const path = req.path.length > 1 && req.path.endsWith('/') ? req.path.slice(0, -1) : req.path;
    const route = table.get(path);
    const wire = route?.wire;
    let release: (() => void) | undefined;
    try {
      const declared = reclaimBody(req);
      const { handler, authorize } = pick(route, path, req.method, table);
      const principal = authorize(credentials(req, wire));
      principals.set(req, principal instanceof Promise ? await principal : principal);
      release = await admitted(admit, req, declared, options.maxBodyBytes);
      bodies.set(req, wire ? await wireBody(req, declared, wire, options.maxBodyBytes) : await readBody(req, declared, options.maxBodyBytes));
      await handler(req, res);
    } catch (error) {
      sendError(res, toHttpError(error, functionName, req), wire && ((e) => wire.error(e, req)));
    } finally {
      release?.();
      const seconds = Number(process.hrtime.bigint() - started) / 1e9;
      metrics.observeRequest(functionName, req.method, route ? path : 'unmatched', res.statusCode, seconds);
    }
  };
}

/**
 * Waits for room for a request's body under the process's budget (a request without one needs none):
 * its declared length, or the largest body when it is compressed or unsized (its decoded size is not
 * known before reading). A refusal leaves the body unread, drained so the connection stays usable.
 */
async function admitted(admit: Admit, req: Request, declared: DeclaredBody, maxBodyBytes: number): Promise<(() => void) | undefined> {
  if (!declared.hasBody) return undefined;
  const coding = req.headers['content-encoding']?.trim().toLowerCase();
  const sized = declared.contentLength !== undefined && (coding === undefined || coding === '' || coding === 'identity');
  try {
    return await admit(sized ? Math.min(Number(declared.contentLength), maxBodyBytes) : maxBodyBytes);
  } catch (error) {
    req.resume();
    throw error;
  }
}

/** The one device a request may write (it came with a device token), or undefined for any device. */
export function deviceScope(req: Request): string | undefined {
  return principals.get(req)?.device;
}

/**
 * The parsed JSON body of a request, handed over once (the pipeline keeps no copy, so it is garbage as
 * soon as the handler is done with it); a request without one is a 400.
 */
export function jsonBody(req: Request): unknown {
  const body = bodies.get(req);
  bodies.delete(req);
  if (body === undefined) throw new HttpError(400, 'empty_body', 'The request has no body: send a JSON event or batch');
  return body;
}

/** The Authorization header to check: a sender protocol's token, when it came another way, as a bearer token. */
function credentials(req: Request, wire: Wire | undefined): string | undefined {
  const token = wire?.token?.(req);
  return token === undefined ? req.headers.authorization : `Bearer ${token}`;
}

/** A sender protocol's body: its bytes, decoded and under the limit, after its Content-Type is checked (415). */
async function wireBody(req: Request, declared: DeclaredBody, wire: Wire, limit: number): Promise<Buffer> {
  const type = req.headers['content-type'];
  if (declared.hasBody && !wire.accepts(type)) {
    req.resume();
    throw new HttpError(415, 'unsupported_media_type', `This path does not read Content-Type ${String(type).slice(0, 100)}`, { content_type: type ?? null });
  }
  return readBytes(req, declared, limit);
}

/** The decoded body bytes of a sender protocol's request, handed over once (empty when it has none). */
export function rawBody(req: Request): Buffer {
  const body = bodies.get(req);
  bodies.delete(req);
  return Buffer.isBuffer(body) ? body : Buffer.alloc(0);
}

function compile(routes: Routes): Map<string, CompiledRoute> {
  const open = accessCheck([]);
  return new Map(
    Object.entries(routes).map(([path, route]) => {
      const methods = new Map<Method, Compiled>();
      let wire: Wire | undefined;
      for (const method of METHODS) {
        const endpoint = route[method];
        if (typeof endpoint === 'function') methods.set(method, { handler: endpoint, authorize: open });
        else if (endpoint) methods.set(method, { handler: endpoint.handler, authorize: authorization(endpoint.tokens, endpoint.deviceKeys) });
        if (typeof endpoint === 'object' && endpoint.wire) wire = endpoint.wire;
      }
      return [path, wire ? { methods, wire } : { methods }];
    }),
  );
}

function authorization(tokens: readonly string[], deviceKeys: readonly DeviceKey[] = []) {
  return accessCheck(tokens, deviceKeys.length > 0 ? deviceTokenVerifier(deviceKeys) : undefined);
}

function pick(route: CompiledRoute | undefined, path: string, method: string, table: Map<string, CompiledRoute>): Compiled {
  if (!route) throw new HttpError(404, 'not_found', `No such path: ${path.slice(0, 200)}`, { paths: [...table.keys()] });
  const found = route.methods.get((method === 'HEAD' ? 'GET' : method) as Method);
  if (found) return found;
  const allow = [...route.methods.keys()].join(', ');
  throw new HttpError(405, 'method_not_allowed', `${path} accepts ${allow}`, undefined, { Allow: allow });
}

function toHttpError(error: unknown, functionName: string, req: Request): HttpError {
  if (error instanceof HttpError) return error;
  if (error instanceof StoreUnavailableError) {
    return new HttpError(503, 'unavailable', 'The data store is unavailable; retry shortly', undefined, { 'Retry-After': '1' });
  }
  if (error instanceof StoreFullError) return storeFull();
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

