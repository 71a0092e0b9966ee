import type { Request } from '@google-cloud/functions-framework';
import { HttpError } from './errors.js';
import type { Wire } from './routes.js';

/** InfluxDB's error codes (its API's `code`), by HTTP status. */
const CODES: Readonly<Record<number, string>> = {
  400: 'invalid',
  401: 'unauthorized',
  403: 'forbidden',
  404: 'not found',
  405: 'method not allowed',
  413: 'request too large',
  415: 'unsupported media type',
  422: 'unprocessable entity',
  429: 'too many requests',
  503: 'unavailable',
};

/**
 * The line protocol paths in the pipeline: any Content-Type (InfluxDB reads none; Telegraf and the
 * clients send text/plain), a token as `Token x` or, on /write, the `p` query parameter or Basic
 * credentials, and refusals as InfluxDB writes them: `{"code":"invalid","message":"…"}`.
 */
export const influxWire: Wire = {
  accepts: () => true,
  token: influxToken,
  error: (error) => ({
    type: 'application/json; charset=utf-8',
    body: JSON.stringify({ code: CODES[error.status] ?? 'internal error', message: error.message }),
  }),
};

function influxToken(req: Request): string | undefined {
  const header = req.headers.authorization ?? '';
  const token = /^Token\s+(\S+)\s*$/i.exec(header)?.[1];
  if (token !== undefined) return token;
  const basic = /^Basic\s+(\S+)\s*$/i.exec(header)?.[1];
  if (basic !== undefined) return Buffer.from(basic, 'base64').toString('utf8').split(':').slice(1).join(':') || undefined;
  const p = req.query.p;
  return req.path.startsWith('/write') && typeof p === 'string' && p !== '' ? p : undefined;
}

/** Milliseconds per unit of each precision InfluxDB accepts (v2 names and v1 names). */
const PRECISIONS: Readonly<Record<string, { drop: number } | { times: number }>> = {
  ns: { drop: 6 },
  n: { drop: 6 },
  us: { drop: 3 },
  u: { drop: 3 },
  ms: { drop: 0 },
  s: { times: 1000 },
  m: { times: 60_000 },
  h: { times: 3_600_000 },
};

export type Precision = (typeof PRECISIONS)[string] & {};

const V2_PARAMS = ['org', 'orgID', 'bucket', 'precision'];
const V1_PARAMS = ['db', 'rp', 'precision', 'u', 'p', 'consistency'];

/**
 * The precision of a write (v2: ns, us, ms, s; v1: n, u, ms, s, m, h; default ns). org, bucket and db
 * are accepted and ignored (this service has one store); any other parameter is a 400 naming it.
 */
export function writePrecision(req: Request, v1: boolean): Precision {
  const known = v1 ? V1_PARAMS : V2_PARAMS;
  const unknown = Object.keys(req.query).filter((name) => !known.includes(name));
  if (unknown.length > 0) {
    throw new HttpError(400, 'invalid_query', `unknown query parameter ${unknown.map((n) => JSON.stringify(n.slice(0, 40))).join(', ')}; accepted: ${known.join(', ')}`);
  }
  const value = req.query.precision ?? 'ns';
  const allowed = v1 ? ['n', 'ns', 'u', 'us', 'ms', 's', 'm', 'h'] : ['ns', 'us', 'ms', 's'];
  const precision = typeof value === 'string' && allowed.includes(value) ? PRECISIONS[value] : undefined;
  if (!precision) throw new HttpError(400, 'invalid_query', `precision must be one of ${allowed.join(', ')} (got ${JSON.stringify(String(value).slice(0, 20))})`);
  return precision;
}

/** A timestamp's digits in a precision as ms since the epoch (sub-millisecond digits dropped); -1 before 1970. */
export function timestampMs(digits: string, precision: Precision): number {
  if (digits.startsWith('-')) return -1;
  if ('times' in precision) return Number(digits) * precision.times;
  if (precision.drop === 0) return Number(digits);
  return digits.length <= precision.drop ? 0 : Number(digits.slice(0, -precision.drop));
}
