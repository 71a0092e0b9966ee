import type { Request, Response } from '@google-cloud/functions-framework';

export type Handler = (req: Request, res: Response) => Promise<void> | void;
export const METHODS = ['GET', 'POST'] as const;
export type Method = (typeof METHODS)[number];

/** A handler that the pipeline runs only for `Authorization: Bearer <one of tokens>` (no tokens: open). */
export interface Guarded {
  readonly handler: Handler;
  readonly tokens: readonly string[];
}
export type Endpoint = Handler | Guarded;

/** One path: what answers each method. */
export type Route = Readonly<Partial<Record<Method, Endpoint>>>;

/** Path → route. Paths are exact; a trailing slash is ignored. */
export type Routes = Readonly<Record<string, Route>>;

/** Requires one of `tokens` before `handler` runs (and before its body is read). */
export function guarded(tokens: readonly string[], handler: Handler): Guarded {
  return { handler, tokens };
}
