import type { Request } from '@google-cloud/functions-framework';
import type { Context } from '../../shared/context.js';
import { HttpError, STORE_FULL_RETRY_SECONDS, storeFull } from '../../shared/http/errors.js';
import { influxValues, lineError } from '../../shared/http/influx-points.js';
import { influxWire, writePrecision } from '../../shared/http/influx-wire.js';
import { LineProtocolError, parseLineProtocol } from '../../shared/http/line-protocol.js';
import { decodeMetricsRequest, encodeMetricsResponse } from '../../shared/http/otlp-codec.js';
import { otlpValues } from '../../shared/http/otlp-points.js';
import { cumulativeRates } from '../../shared/http/otlp-rates.js';
import { isOtlpJson, otlpWire } from '../../shared/http/otlp-wire.js';
import { deviceScope, rawBody } from '../../shared/http/pipeline.js';
import { type Handler, type Routes, guarded } from '../../shared/http/routes.js';
import { type Assembled, type MappedValue, assemble } from '../../shared/http/sender-mapping.js';
import type { BatchOutcome } from '../../shared/store/store.js';
import type { Metrics } from '../../shared/telemetry/metrics.js';

/** What the store refused of a write: the origins (lines, points) concerned, and when to retry. */
interface Refused {
  readonly all: boolean;
  readonly origins: number[];
  readonly values: number;
  readonly status: 429 | 503;
  readonly retryAfterSeconds: number;
}

/**
 * The paths of existing senders: InfluxDB line protocol (/api/v2/write, /write) and OTLP/HTTP metrics
 * (/v1/metrics). One request is one batch through the same write path as /ingest/batch.
 */
export function senderRoutes({ config, store, metrics }: Context): Routes {
  const rates = cumulativeRates();

  /** Stores a request's readings as one batch; what the store refused, if anything. */
  const record = async (req: Request, values: readonly MappedValue[]): Promise<Refused | undefined> => {
    const batch = assemble(values);
    if (batch.readings.length === 0) return undefined;
    if (batch.readings.length > config.maxBatch) {
      throw new HttpError(400, 'invalid_batch', `The request makes ${batch.readings.length} events; at most ${config.maxBatch} are allowed`, { max_batch: config.maxBatch });
    }
    checkScope(req, batch);
    const outcome = await store.recordBatch(batch.readings);
    metrics.countBatch(batch.readings.length, outcome.counted);
    return refused(metrics, batch, outcome);
  };

  const influx = (v1: boolean): Handler => async (req, res) => {
    const precision = writePrecision(req, v1);
    const points = parseLines(rawBody(req));
    const { values, skipped } = influxValues(points, precision, Date.now(), deviceScope(req));
    for (const [reason, count] of Object.entries(skipped)) metrics.countSkipped('influx', reason, count);
    const refusal = await record(req, values);
    if (refusal) throw influxRefusal(refusal);
    res.status(204).end();
  };

  const otlp: Handler = async (req, res) => {
    const json = isOtlpJson(req);
    const mapped = otlpValues(decodeMetricsRequest(rawBody(req), json), Date.now(), deviceScope(req), rates);
    for (const [reason, count] of Object.entries(mapped.skipped)) metrics.countSkipped('otlp', reason, count);
    const refusal = await record(req, mapped.values);
    if (refusal?.all && mapped.rejected === 0) throw retryLater(refusal, `all ${refusal.values} points were refused`);
    const rejected = mapped.rejected + (refusal?.values ?? 0);
    const reasons = refusal ? [...mapped.reasons, storeReason(refusal)] : mapped.reasons;
    const message = rejected === 0 ? '' : `${rejected} of ${mapped.points} points rejected: ${reasons.join('; ')}`;
    res.status(200).type(json ? 'application/json' : 'application/x-protobuf').send(bodyOf(encodeMetricsResponse(rejected, message, json)));
  };

  const writeRoute = (handler: Handler, wire: typeof influxWire) => ({ POST: guarded(config.ingestTokens, handler, config.deviceTokenKeys, wire) });
  return {
    '/api/v2/write': writeRoute(influx(false), influxWire),
    '/write': writeRoute(influx(true), influxWire),
    '/v1/metrics': writeRoute(otlp, otlpWire),
  };
}

function parseLines(body: Buffer): ReturnType<typeof parseLineProtocol> {
  try {
    return parseLineProtocol(UTF8.decode(body));
  } catch (error) {
    if (error instanceof LineProtocolError) throw lineError(error.line, error.reason);
    if (error instanceof TypeError) throw new HttpError(400, 'invalid_batch', `failed to parse line protocol: line ${badUtf8Line(body)}: not valid UTF-8`);
    throw error;
  }
}

const UTF8 = new TextDecoder('utf-8', { fatal: true });

/** The first line of a body that is not UTF-8 (the decoder says only that one is; 0x0A is never inside a character). */
function badUtf8Line(body: Buffer): number {
  const decoder = new TextDecoder('utf-8', { fatal: true });
  for (let start = 0, line = 1; ; line++) {
    const end = body.indexOf(10, start);
    try {
      decoder.decode(body.subarray(start, end === -1 ? body.length : end));
    } catch {
      return line;
    }
    if (end === -1) return line;
    start = end + 1;
  }
}

/** A device token writes its own device only: a point of another device refuses the request whole (403). */
function checkScope(req: Request, batch: Assembled): void {
  const device = deviceScope(req);
  if (device === undefined) return;
  const other = batch.readings.findIndex((reading) => reading.deviceId !== device);
  if (other === -1) return;
  const message = `the token of device ${device} may not write device ${batch.readings[other]!.deviceId} (line or point ${batch.origins[other]![0]})`;
  throw new HttpError(403, 'forbidden', message);
}

function refused(metrics: Metrics, batch: Assembled, outcome: BatchOutcome): Refused | undefined {
  const limited = outcome.rateLimited.map((r) => r.index);
  metrics.countRefused('rate_limited', limited.length);
  metrics.countRefused('store_full', outcome.storeFull.length);
  const indexes = [...limited, ...outcome.storeFull];
  if (indexes.length === 0) return undefined;
  const full = outcome.storeFull.length > 0;
  const retry = Math.max(1, full ? STORE_FULL_RETRY_SECONDS : 1, ...outcome.rateLimited.map((r) => Math.ceil(r.retryAfterMs / 1000)));
  const origins = [...new Set(indexes.flatMap((i) => batch.origins[i]!))].sort((a, b) => a - b);
  const values = indexes.reduce((sum, i) => sum + batch.readings[i]!.metrics.length, 0);
  return { all: indexes.length === batch.readings.length, origins, values, status: full ? 503 : 429, retryAfterSeconds: retry };
}

/** Nothing was written: a 429 or 503 with Retry-After, which senders retry as a whole. */
function retryLater(refusal: Refused, what: string): HttpError {
  if (refusal.status === 503) return storeFull();
  const message = `Over the rate limit: ${what}; retry in ${refusal.retryAfterSeconds} s`;
  return new HttpError(429, 'rate_limited', message, undefined, { 'Retry-After': String(refusal.retryAfterSeconds) });
}

/**
 * Line protocol has no partial success in a 2xx: all refused is a 429/503 to retry; some refused is
 * InfluxDB's own partial write, a 422 naming the lines, which senders do not retry (the rest is written).
 */
function influxRefusal(refusal: Refused): HttpError {
  if (refusal.all) return retryLater(refusal, 'no point was written');
  const lines = refusal.origins.slice(0, 10).join(', ') + (refusal.origins.length > 10 ? ', …' : '');
  return new HttpError(422, 'partial_write', `partial write: ${storeReason(refusal)} (lines ${lines}); the other points were written`);
}

function storeReason(refusal: Refused): string {
  const why = refusal.status === 503 ? 'the data store is full' : 'over the device rate limit';
  return `${refusal.values} values refused, ${why}, retry after ${refusal.retryAfterSeconds} s`;
}

function bodyOf(body: string | Uint8Array): string | Buffer {
  return typeof body === 'string' ? body : Buffer.from(body);
}
