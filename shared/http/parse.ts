import type { z } from 'zod';
import { HttpError } from './errors.js';
import { type FieldIssue, type Reading, batchEvents, isBatch, parseEvent, parseEvents } from '../schemas/event.js';

/** A parsed ingest body: one event, or a batch (an array or `{"metrics": [...]}`). */
export type IngestBody = { kind: 'event'; reading: Reading } | { kind: 'batch'; readings: Reading[] };

/**
 * Validates a body sent to a single-event path; an array there is taken as a batch. `device` (a device
 * token's own) is the device of events that name none, instead of `default`.
 */
export function ingestBody(body: unknown, now: number, maxBatch: number, device?: string): IngestBody {
  if (isBatch(body)) return { kind: 'batch', readings: batchBody(body, now, maxBatch, device) };
  const issues: FieldIssue[] = [];
  const reading = parseEvent(ownDevice(body, device), now, issues);
  if (!reading) throw invalid('invalid_event', issues);
  return { kind: 'event', reading };
}

/** Validates a batch whole: any bad event makes it a 400 naming every bad index and field. `device` as for ingestBody. */
export function batchBody(body: unknown, now: number, maxBatch: number, device?: string): Reading[] {
  if (!isBatch(body)) {
    throw new HttpError(400, 'invalid_batch', 'A batch must be a JSON array of events or {"metrics": [...]}');
  }
  const events = batchEvents(body);
  if (events.length === 0) throw new HttpError(400, 'invalid_batch', 'The batch is empty');
  if (events.length > maxBatch) {
    throw new HttpError(400, 'invalid_batch', `The batch has ${events.length} events; at most ${maxBatch} are allowed`, {
      max_batch: maxBatch,
    });
  }
  const issues: FieldIssue[] = [];
  const readings = parseEvents(device === undefined ? events : events.map((event) => ownDevice(event, device)), now, issues);
  if (!readings) throw invalid('invalid_batch', issues);
  return readings;
}

/** An event object that names no device_id, given `device` as its device; anything else as it is. */
function ownDevice(raw: unknown, device: string | undefined): unknown {
  if (device === undefined || typeof raw !== 'object' || raw === null || Array.isArray(raw) || Object.hasOwn(raw, 'device_id')) return raw;
  return { ...raw, device_id: device };
}

function invalid(code: 'invalid_event' | 'invalid_batch', issues: FieldIssue[]): HttpError {
  const shown = issues.slice(0, 100);
  const where = shown
    .slice(0, 5)
    .map((i) => (i.index === undefined ? i.field : `[${i.index}].${i.field}`))
    .join(', ');
  const more = issues.length > 5 ? ` and ${issues.length - 5} more` : '';
  const message =
    issues.length === 1 && shown[0]
      ? `${where}: ${shown[0].message}`
      : `${issues.length} invalid fields: ${where}${more}`;
  return new HttpError(400, code, message, shown);
}

/**
 * Validates a query string with a zod object schema; a failure is a 400 naming each parameter. A
 * parameter the schema does not name is refused too, with the accepted ones: a misspelled `?devise=`
 * must not quietly answer for the default device.
 */
export function parseQuery<S extends z.ZodObject>(schema: S, query: unknown): z.infer<S> {
  const accepted = Object.keys(schema.shape);
  const unknown: Array<{ field: string; message: string }> = [];
  const flat: Record<string, unknown> = {};
  for (const [name, value] of Object.entries((query ?? {}) as Record<string, unknown>)) {
    if (!accepted.includes(name)) unknown.push({ field: name.slice(0, 64), message: unknownParameter(accepted) });
    else flat[name] = Array.isArray(value) ? value[value.length - 1] : value;
  }
  const parsed = schema.safeParse(flat);
  if (parsed.success && unknown.length === 0) return parsed.data;
  const issues = parsed.success ? [] : parsed.error.issues.map((issue) => ({ field: issue.path.join('.') || '(query)', message: issue.message }));
  const details = [...unknown, ...issues];
  const message = details.map((d) => `${d.field}: ${d.message}`).join('; ');
  throw new HttpError(400, 'invalid_query', message, details);
}

const unknownParameter = (accepted: readonly string[]) =>
  accepted.length === 0 ? 'unknown query parameter: this path takes none' : `unknown query parameter (accepted: ${accepted.join(', ')})`;
