import { subscribe } from 'node:diagnostics_channel';
import type { IncomingMessage } from 'node:http';
import getRawBody from 'raw-body';
import { type Coding, contentCoding, readDecoded } from './content-encoding.js';
import { HttpError, payloadTooLarge } from './errors.js';
import { checkStructure } from './json-structure.js';

const DECLARED = Symbol('iot.declared-body');

/** The body-length headers a request arrived with, before the framework could see them. */
export interface DeclaredBody {
  readonly contentLength: string | undefined;
  readonly transferEncoding: string | undefined;
  /** Whether the request carries a body (chunked, or a length above 0). */
  readonly hasBody: boolean;
}
type Owned = IncomingMessage & { [DECLARED]?: DeclaredBody };

let installed = false;

/**
 * functions-framework parses every body (up to 1024 MB) before a function runs, and answers a malformed
 * one itself, in HTML. Node announces each request on `http.server.request.start` before the framework
 * sees it: there we take the body-length headers away, so the framework's parsers find "no body" and
 * leave the stream to `readBody`. Called once by the pipeline when a function is registered.
 */
export function installBodyOwnership(): void {
  if (installed) return;
  installed = true;
  subscribe('http.server.request.start', (message) => {
    const request = (message as { request: Owned }).request;
    const headers = request.headers;
    const contentLength = headers['content-length'];
    const transferEncoding = headers['transfer-encoding'];
    request[DECLARED] = { contentLength, transferEncoding, hasBody: transferEncoding !== undefined || Number(contentLength) > 0 };
    delete headers['content-length'];
    delete headers['transfer-encoding'];
  });
}

/**
 * Hands the body-length headers back to our code once the framework's parsers are behind us, and checks
 * that they did leave the body alone: if the hook is missing (a framework upgrade, or a function that
 * bypassed the pipeline), this fails loudly rather than answering from a body nobody limited.
 */
export function reclaimBody(request: IncomingMessage): DeclaredBody {
  const declared = (request as Owned)[DECLARED];
  if (!declared) {
    throw new Error('request body ownership is not installed: the framework may have parsed this body');
  }
  if (declared.contentLength !== undefined) request.headers['content-length'] = declared.contentLength;
  if (declared.transferEncoding !== undefined) request.headers['transfer-encoding'] = declared.transferEncoding;
  if (declared.hasBody && request.readableEnded) {
    throw new Error('functions-framework consumed a request body before the pipeline: the body hook failed');
  }
  return declared;
}

const JSON_TYPE = /^application\/(?:[\w.+-]+\+)?json\s*(?:;|$)/i;

/**
 * Reads and parses the JSON body of a request, at most `limit` bytes (enforced while reading, and on the
 * decoded size of a compressed body); returns undefined when the request has none (or only whitespace).
 * Every failure is an HttpError.
 */
export async function readBody(request: IncomingMessage, declared: DeclaredBody, limit: number): Promise<unknown> {
  if (!declared.hasBody) return undefined;
  const type = request.headers['content-type'];
  if (!type || !JSON_TYPE.test(type)) {
    request.resume();
    throw new HttpError(415, 'unsupported_media_type', 'The body must be JSON: send Content-Type: application/json', {
      content_type: type ?? null,
    });
  }
  // UTF-8, a byte order mark dropped (as raw-body's decoder did), bad sequences as U+FFFD.
  const text = UTF8.decode(await readBytes(request, declared, limit));
  if (text.trim() === '') return undefined;
  let body: unknown;
  try {
    body = JSON.parse(text);
  } catch (error) {
    throw new HttpError(400, 'malformed_json', `The body is not valid JSON: ${printable((error as Error).message)}`);
  }
  checkStructure(text, body);
  return body;
}

const UTF8 = new TextDecoder('utf-8');

/**
 * The bytes of a request body, decoded from its Content-Encoding (gzip, deflate, br), at most `limit`
 * received and at most `limit` decoded: the stage every body format reads through (JSON today; line
 * protocol or protobuf would parse these bytes the same way). Empty when the request has no body.
 */
export async function readBytes(request: IncomingMessage, declared: DeclaredBody, limit: number): Promise<Buffer> {
  if (!declared.hasBody) return Buffer.alloc(0);
  let coding: Coding | undefined;
  try {
    coding = contentCoding(request.headers['content-encoding']);
  } catch (error) {
    request.resume();
    throw error;
  }
  const length = declared.contentLength === undefined ? undefined : Number(declared.contentLength);
  if (coding !== undefined) return readDecoded(request, coding, limit, length);
  try {
    return await getRawBody(request, { length: declared.contentLength, limit });
  } catch (error) {
    throw bodyError(error, limit);
  }
}

/** The parser quotes the body: shown as printable ASCII, anything else escaped, so no raw bytes are echoed. */
function printable(message: string): string {
  return message.replace(/[^\x20-\x7e]/g, (c) => `\\u${c.charCodeAt(0).toString(16).padStart(4, '0')}`);
}

function bodyError(error: unknown, limit: number): HttpError {
  const type = (error as { type?: string }).type;
  if (type === 'entity.too.large') return payloadTooLarge(limit);
  // Otherwise the upload broke off or did not match its Content-Length.
  return new HttpError(400, 'bad_body', 'The body could not be read completely');
}
