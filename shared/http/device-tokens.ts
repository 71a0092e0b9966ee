import { SignJWT, errors, jwtVerify } from 'jose';
import { DEVICE_ID } from '../schemas/names.js';
import { HttpError, unauthorized } from './errors.js';

/** One signing key of device tokens: its id (the token's `kid`) and its secret (HS256). */
export interface DeviceKey {
  readonly id: string;
  readonly secret: string;
}

const ALGORITHM = 'HS256';
const ISSUER = 'iot-metrics';

/**
 * Mints a device token: a JWT (HS256) whose `sub` is the device id, signed with `key` (its id in `kid`),
 * valid for `ttlSeconds`. It is verified without any lookup: the signature, the key id and the expiry.
 */
export function mintDeviceToken(key: DeviceKey, device: string, ttlSeconds: number, now = Date.now()): Promise<string> {
  const issuedAt = Math.floor(now / 1000);
  return new SignJWT({})
    .setProtectedHeader({ alg: ALGORITHM, kid: key.id })
    .setSubject(device)
    .setIssuer(ISSUER)
    .setIssuedAt(issuedAt)
    .setExpirationTime(issuedAt + ttlSeconds)
    .sign(new TextEncoder().encode(key.secret));
}

/**
 * The check of a device token against the keys in force (all of them: a key being rotated out still
 * verifies until it is removed). Resolves to the device id it may write, or rejects with a 401 that says
 * why (expired, or not valid) and nothing more.
 */
export function deviceTokenVerifier(keys: readonly DeviceKey[]): (token: string) => Promise<string> {
  const secrets = new Map(keys.map((key) => [key.id, new TextEncoder().encode(key.secret)]));
  return async (token) => {
    try {
      const { payload } = await jwtVerify(token, ({ kid }) => {
        const secret = kid === undefined ? undefined : secrets.get(kid);
        if (!secret) throw new errors.JWKSNoMatchingKey();
        return secret;
      }, { algorithms: [ALGORITHM], issuer: ISSUER, requiredClaims: ['sub', 'exp'] });
      if (!payload.sub || !DEVICE_ID.test(payload.sub)) throw unauthorized('The device token names no valid device');
      return payload.sub;
    } catch (error) {
      if (error instanceof HttpError) throw error;
      if (error instanceof errors.JWTExpired) throw unauthorized('The device token has expired: mint a new one');
      throw unauthorized('The device token is not valid (signature, key or claims)');
    }
  };
}
