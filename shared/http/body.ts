import { subscribe } from 'node:diagnostics_channel';
import type { IncomingMessage } from 'node:http';
import { visit } from 'jsonc-parser';
import getRawBody from 'raw-body';
import { HttpError } from './errors.js';

const BODY = Symbol('iot.body');

interface BodyHeaders {
  length: string | undefined;
  chunked: boolean;
}
type Owned = IncomingMessage & { [BODY]?: BodyHeaders };

/*
 * functions-framework parses every body (up to 1024 MB) before a function runs, and answers a malformed
 * one itself, in HTML. Node announces each request on this channel before the framework sees it: we take
 * the body-length headers away there, so the framework's parsers find "no body" and leave the stream to
 * `readJson`, which enforces our limit while reading and answers in our error format.
 */
subscribe('http.server.request.start', (message) => {
  const request = (message as { request: Owned }).request;
  const headers = request.headers;
  request[BODY] = { length: headers['content-length'], chunked: headers['transfer-encoding'] !== undefined };
  delete headers['content-length'];
  delete headers['transfer-encoding'];
});

const JSON_TYPE = /^application\/(?:[\w.+-]+\+)?json\s*(?:;|$)/i;

/** Reads and parses a JSON request body of at most `limit` bytes; every failure is an HttpError. */
export async function readJson(request: IncomingMessage, limit: number): Promise<unknown> {
  const declared = (request as Owned)[BODY];
  const type = request.headers['content-type'];
  const hasBody = declared !== undefined && (declared.chunked || Number(declared.length) > 0);
  if (!hasBody) {
    throw new HttpError(400, 'empty_body', 'The request has no body: send a JSON event or batch');
  }
  if (!type || !JSON_TYPE.test(type)) {
    request.resume();
    throw new HttpError(415, 'unsupported_media_type', 'The body must be JSON: send Content-Type: application/json', {
      content_type: type ?? null,
    });
  }
  let text: string;
  try {
    text = await getRawBody(request, { length: declared.length, limit, encoding: 'utf8' });
  } catch (error) {
    throw bodyError(error, limit);
  }
  if (text.trim() === '') throw new HttpError(400, 'empty_body', 'The request has no body: send a JSON event or batch');
  let body: unknown;
  try {
    body = JSON.parse(text);
  } catch (error) {
    throw new HttpError(400, 'malformed_json', `The body is not valid JSON: ${(error as Error).message}`);
  }
  checkStructure(text);
  return body;
}

const MAX_DEPTH = 32;

/**
 * JSON.parse keeps the last of duplicate keys without a word, so a second pass over the (valid) text
 * refuses them, and refuses nesting deeper than any event needs.
 */
function checkStructure(text: string): void {
  const objects: Array<Set<string>> = [];
  let depth = 0;
  const deeper = () => {
    if (++depth > MAX_DEPTH) throw new HttpError(400, 'malformed_json', `The body is nested deeper than ${MAX_DEPTH} levels`);
  };
  visit(text, {
    onObjectBegin: () => {
      deeper();
      objects.push(new Set());
    },
    onObjectEnd: () => {
      depth--;
      objects.pop();
    },
    onArrayBegin: deeper,
    onArrayEnd: () => {
      depth--;
    },
    onObjectProperty: (name) => {
      const keys = objects[objects.length - 1]!;
      if (keys.has(name)) {
        const shown = name.length > 64 ? `${name.slice(0, 64)}…` : name;
        throw new HttpError(400, 'malformed_json', `The body repeats the key "${shown}" in one object`, { field: shown });
      }
      keys.add(name);
    },
  });
}

function bodyError(error: unknown, limit: number): HttpError {
  const type = (error as { type?: string }).type;
  if (type === 'entity.too.large') {
    return new HttpError(413, 'payload_too_large', `The body is larger than ${limit} bytes`, { limit_bytes: limit });
  }
  if (type === 'encoding.unsupported' || type === 'charset.unsupported') {
    return new HttpError(415, 'unsupported_media_type', 'The body must be UTF-8 JSON');
  }
  return new HttpError(400, 'bad_body', 'The body could not be read completely');
}
