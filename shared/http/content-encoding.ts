import type { IncomingMessage } from 'node:http';
import { pipeline } from 'node:stream/promises';
import { createBrotliDecompress, createGunzip, createInflate } from 'node:zlib';
import { HttpError, payloadTooLarge } from './errors.js';

/** The content codings a body may be sent in (RFC 9110 §8.4.1); `x-gzip` is gzip's old name, `deflate` the zlib format. */
const DECODERS = { gzip: createGunzip, 'x-gzip': createGunzip, deflate: createInflate, br: createBrotliDecompress } as const;
export type Coding = keyof typeof DECODERS;

const ACCEPTED = ['gzip', 'deflate', 'br', 'identity'];

/**
 * The content coding of a request body, or undefined when it has none (no header, or `identity`). One
 * coding only: a stack (`gzip, br`) is refused like an unknown coding, with 415 naming it and
 * `Accept-Encoding` listing ours (RFC 9110 §15.5.16); senders compress once, and one decoding stage
 * keeps the limit exact.
 */
export function contentCoding(header: string | undefined): Coding | undefined {
  const codings = (header ?? '').split(',').map((c) => c.trim().toLowerCase()).filter((c) => c !== '' && c !== 'identity');
  if (codings.length === 0) return undefined;
  const coding = codings[0]!;
  if (codings.length === 1 && Object.hasOwn(DECODERS, coding)) return coding as Coding;
  const shown = header!.slice(0, 100);
  const message =
    codings.length === 1
      ? `Content-Encoding ${coding.slice(0, 100)} is not supported: send gzip, deflate, br or identity`
      : `Content-Encoding ${JSON.stringify(shown)} stacks ${codings.length} codings: send the body in one of gzip, deflate, br (or identity)`;
  const details = { content_encoding: shown, accepted: ACCEPTED };
  throw new HttpError(415, 'unsupported_encoding', message, details, { 'Accept-Encoding': 'gzip, deflate, br' });
}

/**
 * Reads a body sent in `coding`, decoding it as it arrives: at most `limit` bytes received and at most
 * `limit` decoded, so a zip bomb costs no more than the limit inflated (413). A stream that does not
 * decode is 400 `malformed_encoding`; an upload that breaks off, 400 `bad_body`.
 */
export async function readDecoded(request: IncomingMessage, coding: Coding, limit: number, length?: number): Promise<Buffer> {
  if (length !== undefined && length > limit) throw payloadTooLarge(limit);
  const chunks: Buffer[] = [];
  let size = 0;
  const collect = async (decoded: AsyncIterable<Buffer>) => {
    for await (const chunk of decoded) {
      size += chunk.length;
      if (size > limit) throw payloadTooLarge(limit);
      chunks.push(chunk);
    }
  };
  try {
    await pipeline(received(request, limit, length), DECODERS[coding](), collect);
  } catch (error) {
    if (error instanceof HttpError) throw error;
    // The rest of the upload is read and dropped, so the connection stays usable.
    request.resume();
    const reason = String((error as Error).message).replace(/[^\x20-\x7e]/g, '?').slice(0, 200);
    throw new HttpError(400, 'malformed_encoding', `The body is not valid ${coding} (Content-Encoding: ${coding}): ${reason}`);
  }
  return Buffer.concat(chunks, size);
}

/** The bytes of a request as they arrive, at most `limit`; the request is never destroyed (a 413 is still to be sent on it). */
async function* received(request: IncomingMessage, limit: number, length: number | undefined): AsyncGenerator<Buffer> {
  let size = 0;
  try {
    for await (const chunk of request.iterator({ destroyOnReturn: false }) as AsyncIterable<Buffer>) {
      size += chunk.length;
      if (size > limit) throw payloadTooLarge(limit);
      yield chunk;
    }
  } catch (error) {
    throw error instanceof HttpError ? error : incomplete();
  }
  if (length !== undefined && size !== length) throw incomplete();
}

const incomplete = () => new HttpError(400, 'bad_body', 'The body could not be read completely');
