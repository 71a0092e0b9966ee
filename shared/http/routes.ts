import type { Request, Response } from '@google-cloud/functions-framework';
import type { DeviceKey } from './device-tokens.js';
import type { HttpError } from './errors.js';

export type Handler = (req: Request, res: Response) => Promise<void> | void;
export const METHODS = ['GET', 'POST'] as const;
export type Method = (typeof METHODS)[number];

/**
 * A handler that the pipeline runs only for `Authorization: Bearer <one of tokens>`, or for a device
 * token signed with one of `deviceKeys` (the handler then sees its device in deviceScope(req)).
 * Neither configured: open.
 */
export interface Guarded {
  readonly handler: Handler;
  readonly tokens: readonly string[];
  readonly deviceKeys?: readonly DeviceKey[];
  /** Set on a sender protocol's path: a body of bytes, its own token forms and error shape. */
  readonly wire?: Wire;
}
export type Endpoint = Handler | Guarded;

/**
 * What a sender protocol's path (InfluxDB line protocol, OTLP) changes in the pipeline: its body is
 * handed over as bytes (rawBody), its token may come another way, and its refusals are written in the
 * protocol's own error shape (every refusal is still an HttpError inside).
 */
export interface Wire {
  /** Whether a Content-Type is one this path reads; any other is a 415 before the body is read. */
  accepts(contentType: string | undefined): boolean;
  /** The token of a request that sends none as `Authorization: Bearer` (another scheme, a query parameter). */
  token?(req: Request): string | undefined;
  /** The protocol's error body for a refusal. */
  error(error: HttpError, req: Request): { type: string; body: string | Uint8Array };
}

/** One path: what answers each method. */
export type Route = Readonly<Partial<Record<Method, Endpoint>>>;

/** Path → route. Paths are exact; a trailing slash is ignored. */
export type Routes = Readonly<Record<string, Route>>;

/** Requires one of `tokens` (or a device token of `deviceKeys`) before `handler` runs (and before its body is read). */
export function guarded(tokens: readonly string[], handler: Handler, deviceKeys: readonly DeviceKey[] = [], wire?: Wire): Guarded {
  return wire ? { handler, tokens, deviceKeys, wire } : { handler, tokens, deviceKeys };
}
