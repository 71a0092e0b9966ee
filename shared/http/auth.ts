import { createHash, timingSafeEqual } from 'node:crypto';
import { HttpError } from './errors.js';

const digest = (text: string) => createHash('sha256').update(text).digest();

/**
 * A check of `Authorization: Bearer <one of tokens>`; with no tokens configured, every request passes.
 * Tokens are compared through fixed-length digests with timingSafeEqual, so the time taken says nothing
 * about how much of a token matched.
 */
export function bearerCheck(tokens: readonly string[]): (authorization: string | undefined) => void {
  if (tokens.length === 0) return () => undefined;
  const accepted = tokens.map(digest);
  return (authorization) => {
    const match = /^Bearer\s+(\S+)\s*$/i.exec(authorization ?? '');
    const offered = digest(match?.[1] ?? '');
    // Compare with every token, whatever the first results, so that timing does not tell which matched.
    let ok = false;
    for (const token of accepted) ok = timingSafeEqual(offered, token) || ok;
    if (!match || !ok) {
      throw new HttpError(401, 'unauthorized', 'Send Authorization: Bearer <token> with a valid token', undefined, {
        'WWW-Authenticate': 'Bearer',
      });
    }
  };
}
