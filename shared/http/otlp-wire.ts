import type { Request } from '@google-cloud/functions-framework';
import { encodeStatus } from './otlp-codec.js';
import type { Wire } from './routes.js';

const PROTOBUF = /^application\/x-protobuf\s*(?:;|$)/i;
const JSON_TYPE = /^application\/json\s*(?:;|$)/i;

/** Whether a request's body is OTLP/JSON (else OTLP protobuf: the only other type /v1/metrics reads). */
export function isOtlpJson(req: Request): boolean {
  return JSON_TYPE.test(req.headers['content-type'] ?? '');
}

/** gRPC status codes (google.rpc.Code) by HTTP status, as OTLP/HTTP pairs them. */
const CODES: Readonly<Record<number, number>> = { 400: 3, 401: 16, 403: 7, 404: 5, 405: 12, 413: 8, 415: 3, 429: 8, 503: 14 };

/**
 * The OTLP/HTTP path in the pipeline: application/x-protobuf or application/json bodies, a bearer
 * token, and refusals as a google.rpc.Status in the request's own encoding (JSON when it is unknown).
 */
export const otlpWire: Wire = {
  accepts: (type) => type !== undefined && (PROTOBUF.test(type) || JSON_TYPE.test(type)),
  error: (error, req) => {
    const json = !PROTOBUF.test(req.headers['content-type'] ?? '');
    const body = encodeStatus(CODES[error.status] ?? 13, error.message, json);
    return { type: json ? 'application/json' : 'application/x-protobuf', body };
  },
};
