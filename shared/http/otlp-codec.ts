import protobuf from 'protobufjs';
import protojson from 'protobufjs/ext/protojson.js';
import { HttpError } from './errors.js';
import { OTLP_DESCRIPTOR } from './otlp-descriptor.js';

/*
 * OTLP/HTTP metrics bodies, read and written with the OpenTelemetry project's own definitions
 * (opentelemetry-proto v1.11.0, shared/http/otlp-proto) through protobufjs: binary protobuf, and
 * OTLP/JSON through protobufjs's ProtoJSON (camelCase or proto names, 64-bit integers as strings or
 * numbers, unknown fields ignored as the OTLP specification asks of receivers).
 */
const root = protobuf.Root.fromJSON(OTLP_DESCRIPTOR);
const RequestType = root.lookupType('opentelemetry.proto.collector.metrics.v1.ExportMetricsServiceRequest');
const ResponseType = root.lookupType('opentelemetry.proto.collector.metrics.v1.ExportMetricsServiceResponse');
const StatusType = root.lookupType('google.rpc.Status');

const AS_PLAIN = { longs: String, enums: Number, bytes: String, defaults: false } as const;

/** An ExportMetricsServiceRequest as plain data (64-bit integers as decimal strings), or a 400 saying why not. */
export function decodeMetricsRequest(body: Buffer, json: boolean): OtlpRequest {
  try {
    const message = json ? protojson.fromJsonString(RequestType, body.toString('utf8'), { ignoreUnknownFields: true }) : RequestType.decode(body);
    // Inside the try too: a message nested deeper than the stack allows fails here as well as in decode.
    return RequestType.toObject(message, AS_PLAIN) as OtlpRequest;
  } catch (error) {
    const reason = String((error as Error).message).replace(/[^\x20-\x7e]/g, '?').slice(0, 200);
    throw new HttpError(400, 'invalid_batch', `The body is not an OTLP ExportMetricsServiceRequest in ${json ? 'JSON' : 'protobuf'}: ${reason}`);
  }
}

/** An ExportMetricsServiceResponse: empty when all was accepted, else partial_success with what was rejected. */
export function encodeMetricsResponse(rejected: number, errorMessage: string, json: boolean): string | Uint8Array {
  const body = rejected === 0 && errorMessage === '' ? {} : { partialSuccess: { rejectedDataPoints: rejected, errorMessage } };
  return json ? protojson.toJsonString(ResponseType, ResponseType.fromObject(body)) : ResponseType.encode(ResponseType.fromObject(body)).finish();
}

/** A google.rpc.Status: the error body of OTLP/HTTP. */
export function encodeStatus(code: number, message: string, json: boolean): string | Uint8Array {
  const status = StatusType.fromObject({ code, message });
  return json ? protojson.toJsonString(StatusType, status) : StatusType.encode(status).finish();
}

/** The decoded request, as far as this service reads it (opentelemetry/proto/metrics/v1/metrics.proto). */
export interface OtlpRequest {
  resourceMetrics?: Array<{ resource?: { attributes?: KeyValue[] }; scopeMetrics?: Array<{ metrics?: OtlpMetric[] }> }>;
}
export interface KeyValue {
  key?: string;
  value?: { stringValue?: string; intValue?: string; doubleValue?: number; boolValue?: boolean };
}
export interface NumberPoint {
  attributes?: KeyValue[];
  startTimeUnixNano?: string;
  timeUnixNano?: string;
  asDouble?: number;
  asInt?: string;
  flags?: number;
}
export interface OtlpMetric {
  name?: string;
  gauge?: { dataPoints?: NumberPoint[] };
  sum?: { dataPoints?: NumberPoint[]; aggregationTemporality?: number; isMonotonic?: boolean };
  histogram?: { dataPoints?: unknown[] };
  exponentialHistogram?: { dataPoints?: unknown[] };
  summary?: { dataPoints?: unknown[] };
}
