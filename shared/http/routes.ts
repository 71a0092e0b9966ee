import type { Request, Response } from '@google-cloud/functions-framework';
import type { DeviceKey } from './device-tokens.js';

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
}
export type Endpoint = Handler | Guarded;

/** One path: what answers each method. */
export type Route = Readonly<Partial<Record<Method, Endpoint>>>;

/** Path → route. Paths are exact; a trailing slash is ignored. */
export type Routes = Readonly<Record<string, Route>>;

/** Requires one of `tokens` (or a device token of `deviceKeys`) before `handler` runs (and before its body is read). */
export function guarded(tokens: readonly string[], handler: Handler, deviceKeys: readonly DeviceKey[] = []): Guarded {
  return { handler, tokens, deviceKeys };
}
