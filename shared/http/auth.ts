import { createHash, timingSafeEqual } from 'node:crypto';
import { unauthorized } from './errors.js';

/** Whom a request speaks for: any device (a fleet token, or an open endpoint), or one device only. */
export interface Principal {
  readonly device?: string;
}

const ANY: Principal = Object.freeze({});
const digest = (text: string) => createHash('sha256').update(text).digest();
const isJwt = (token: string) => token.split('.').length === 3;

/**
 * Whether a token is one of `tokens`. Tokens are compared through fixed-length digests with
 * timingSafeEqual, against every token whatever the first results, so the time taken says nothing about
 * how much of a token matched, or which.
 */
function tokenMatcher(tokens: readonly string[]): (token: string) => boolean {
  const accepted = tokens.map(digest);
  return (token) => {
    const offered = digest(token);
    let ok = false;
    for (const candidate of accepted) ok = timingSafeEqual(offered, candidate) || ok;
    return ok;
  };
}

/**
 * The access check of an endpoint, from `Authorization: Bearer <token>`: one of `tokens` (a fleet
 * token) may write any device; with `verifyDevice`, a device token (a JWT) may write its own device
 * only. Nothing configured: open. A fleet token is checked without a promise; only a token shaped like
 * a JWT is verified.
 */
export function accessCheck(
  tokens: readonly string[],
  verifyDevice?: (token: string) => Promise<string>,
): (authorization: string | undefined) => Principal | Promise<Principal> {
  if (tokens.length === 0 && !verifyDevice) return () => ANY;
  const fleet = tokenMatcher(tokens);
  return (authorization) => {
    const token = /^Bearer\s+(\S+)\s*$/i.exec(authorization ?? '')?.[1];
    if (token !== undefined && fleet(token)) return ANY;
    if (token !== undefined && verifyDevice && isJwt(token)) return verifyDevice(token).then((device) => ({ device }));
    throw unauthorized('Send Authorization: Bearer <token> with a valid token');
  };
}
