import { createHash, timingSafeEqual } from 'node:crypto';
import { type Handler, HttpError } from './pipeline.js';

const digest = (text: string) => createHash('sha256').update(text).digest();

/**
 * Wraps handlers so that they require `Authorization: Bearer <one of tokens>`; with no tokens
 * configured, handlers are returned as they are. Tokens are compared through fixed-length digests
 * with timingSafeEqual, so the time taken says nothing about how much of a token matched.
 */
export function bearer(tokens: readonly string[]): (handler: Handler) => Handler {
  if (tokens.length === 0) return (handler) => handler;
  const accepted = tokens.map(digest);
  return (handler) => (req, res) => {
    const header = req.headers.authorization ?? '';
    const match = /^Bearer\s+(\S+)\s*$/i.exec(header);
    const offered = digest(match?.[1] ?? '');
    // Compare with every token, whatever the first results, so that timing does not tell which matched.
    let ok = false;
    for (const token of accepted) ok = timingSafeEqual(offered, token) || ok;
    if (!match || !ok) {
      throw new HttpError(401, 'unauthorized', 'Send Authorization: Bearer <token> with a valid token', undefined, {
        'WWW-Authenticate': 'Bearer',
      });
    }
    return handler(req, res);
  };
}
