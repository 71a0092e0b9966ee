import { createHash } from 'node:crypto';
import type { IncomingHttpHeaders } from 'node:http';
import { type CloudEvent, HTTP } from 'cloudevents';
import { HttpError } from './errors.js';
import { type IngestBody, batchBody, ingestBody } from './parse.js';

/** The CloudEvent types ingest accepts: one reading (data: an event), or readings (data: a batch). */
export const CLOUDEVENT_TYPES = { reading: 'io.iot-metrics.reading', readings: 'io.iot-metrics.readings' } as const;

const STRUCTURED = /^application\/cloudevents(?:-batch)?\+json/i;
const REQUIRED = ['ce-specversion', 'ce-id', 'ce-source', 'ce-type'] as const;

/**
 * Whether a request carries a CloudEvent, or means to: a structured or batched content type, or any
 * `ce-` header (binary mode). A request with some `ce-` headers is never taken as a plain event.
 */
export function isCloudEvent(headers: IncomingHttpHeaders): boolean {
  return STRUCTURED.test(headers['content-type'] ?? '') || Object.keys(headers).some((name) => name.startsWith('ce-'));
}

const invalid = (message: string) => new HttpError(400, 'invalid_cloudevent', message);

/**
 * The readings of a CloudEvent request (binary, structured or batched content mode, read by the
 * CloudEvents SDK). Each event's `id` with its `source` is the idempotency id of what it carries, so a
 * Broker's redelivery is applied once; the device is `subject`, else the `deviceid` extension, else
 * the data's `device_id`, else `device` (a device token's own). Anything the SDK or our event rules
 * refuse is a 400.
 */
export function cloudEventBody(headers: IncomingHttpHeaders, body: unknown, now: number, maxBatch: number, device?: string): IngestBody {
  const contentType = String(headers['content-type'] ?? '').split(';')[0]!.trim();
  if (!STRUCTURED.test(contentType)) checkBinary(headers);
  let events: CloudEvent[];
  try {
    // The SDK reads the text (its batched mode parses it itself); the body was already checked as JSON.
    const parsed = HTTP.toEvent({ headers: { ...headers, 'content-type': contentType }, body: JSON.stringify(body) });
    events = (Array.isArray(parsed) ? parsed : [parsed]) as CloudEvent[];
    for (const event of events) event.validate();
  } catch (error) {
    throw invalid(`Not a valid CloudEvent: ${(error as Error).message}`);
  }
  const raws = events.flatMap((event, i) => eventsOf(event, events.length > 1 ? `[${i}] ` : ''));
  if (events.length === 1 && events[0]!.type === CLOUDEVENT_TYPES.reading) return ingestBody(raws[0], now, maxBatch, device);
  return { kind: 'batch', readings: batchBody(raws, now, maxBatch, device) };
}

/**
 * A binary-mode event carries each required attribute as a non-empty header: without one the SDK says
 * only "no cloud event detected" (or, lacking ce-specversion, we would take the rest as a plain event).
 */
function checkBinary(headers: IncomingHttpHeaders): void {
  const details = REQUIRED.flatMap((field) => {
    const value = headers[field];
    if (value === undefined) return [{ field, message: 'is missing' }];
    return value === '' ? [{ field, message: 'is empty' }] : [];
  });
  if (details.length === 0) return;
  const what = details.map((d) => `${d.field} ${d.message}`).join(', ');
  throw new HttpError(400, 'invalid_cloudevent', `Incomplete CloudEvent: ${what} (binary mode needs ce-specversion, ce-id, ce-source and ce-type)`, details);
}

/** The raw events one CloudEvent carries, each with its device and its idempotency id. */
function eventsOf(event: CloudEvent, where: string): unknown[] {
  const types = Object.values(CLOUDEVENT_TYPES) as string[];
  // The SDK's validation lets an empty or missing type through in some modes.
  const type: unknown = event.type;
  if (typeof type !== 'string' || !types.includes(type)) {
    throw invalid(`${where}type must be one of ${types.join(', ')} (got ${typeof type === 'string' ? JSON.stringify(type.slice(0, 80)) : 'none'})`);
  }
  const single = event.type === CLOUDEVENT_TYPES.reading;
  const data = event.data;
  if (single ? !isObject(data) : !Array.isArray(data)) {
    throw invalid(`${where}data must be ${single ? 'one event (a JSON object)' : 'a JSON array of events'} for type ${event.type}`);
  }
  const id = createHash('sha256').update(`${event.source}\n${event.id}`).digest('base64url').slice(0, 32);
  const device = event.subject ?? (typeof event.deviceid === 'string' ? event.deviceid : undefined);
  const list: unknown[] = single ? [data] : (data as unknown as unknown[]);
  return list.map((raw, i) => {
    if (!isObject(raw)) return raw; // refused by the event rules, with its index
    if (device !== undefined && raw.device_id !== undefined && raw.device_id !== device) {
      throw invalid(`${where}data${single ? '' : `[${i}]`}.device_id differs from the event's subject (${device.slice(0, 128)})`);
    }
    return { ...raw, ...(device !== undefined ? { device_id: device } : {}), id: single ? `ce:${id}` : `ce:${id}:${i}` };
  });
}

function isObject(value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}
