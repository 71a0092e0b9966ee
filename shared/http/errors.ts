/** Stable error codes of the API; clients may switch on them. */
export type ErrorCode =
  | 'invalid_event'
  | 'invalid_batch'
  | 'invalid_query'
  | 'invalid_cloudevent'
  | 'empty_body'
  | 'malformed_json'
  | 'malformed_encoding'
  | 'bad_body'
  | 'payload_too_large'
  | 'unsupported_media_type'
  | 'unsupported_encoding'
  | 'not_found'
  | 'method_not_allowed'
  | 'rate_limited'
  | 'unauthorized'
  | 'forbidden'
  | 'unavailable'
  | 'overloaded'
  | 'store_full'
  | 'partial_write'
  | 'internal';

/** An error that becomes exactly this response: `{error: code, message, details?}`. */
export class HttpError extends Error {
  override readonly name = 'HttpError';
  constructor(
    readonly status: number,
    readonly code: ErrorCode,
    message: string,
    readonly details?: unknown,
    readonly headers: Record<string, string> = {},
  ) {
    super(message);
  }
}

/** 413: the body, as received or as decoded, is larger than MAX_BODY_BYTES. */
export function payloadTooLarge(limit: number): HttpError {
  return new HttpError(413, 'payload_too_large', `The body is larger than ${limit} bytes`, { limit_bytes: limit });
}

/** Redis is at maxmemory and does not evict: nothing was written; retry after memory is freed. */
export function storeFull(details?: unknown): HttpError {
  const message = 'The data store is full (Redis reached maxmemory); nothing was written, retry later';
  return new HttpError(503, 'store_full', message, details, { 'Retry-After': String(STORE_FULL_RETRY_SECONDS) });
}

/** What a client is asked to wait after store_full: long enough for an operator or eviction to act. */
export const STORE_FULL_RETRY_SECONDS = 30;

/** 401: no valid bearer token; `WWW-Authenticate` tells the client which scheme. */
export function unauthorized(message: string): HttpError {
  return new HttpError(401, 'unauthorized', message, undefined, { 'WWW-Authenticate': 'Bearer' });
}
