/** Stable error codes of the API; clients may switch on them. */
export type ErrorCode =
  | 'invalid_event'
  | 'invalid_batch'
  | 'invalid_query'
  | 'empty_body'
  | 'malformed_json'
  | 'bad_body'
  | 'payload_too_large'
  | 'unsupported_media_type'
  | 'not_found'
  | 'method_not_allowed'
  | 'rate_limited'
  | 'unauthorized'
  | 'unavailable'
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
