import { readFileSync } from 'node:fs';
import { redisFunction } from './functions.js';

/*
 * The Lua scripts live in ./lua, one file per command, with shared pieces in ./lua/includes. A line
 * `--- @include "name"` is replaced by includes/name.lua (BullMQ's convention), once per script, at
 * start-up: Redis receives one self-contained script.
 */
const INCLUDE = /^--- @include "([a-z0-9-]+)"\s*$/gm;

const read = (path: string) => readFileSync(new URL(`./lua/${path}.lua`, import.meta.url), 'utf8');

/** The text of script `name` with its includes resolved (each at most once; includes may include). */
export function loadScript(name: string): string {
  const seen = new Set<string>();
  const resolve = (text: string): string =>
    text.replace(INCLUDE, (_line, include: string) => {
      if (seen.has(include)) return '';
      seen.add(include);
      return resolve(read(`includes/${include}`)).trimEnd();
    });
  return resolve(read(name));
}

/** The scripts as ioredis defines them (EVALSHA): a fixed number of keys each. */
export function scriptDefinitions() {
  return {
    outboxClaim: { lua: loadScript('outbox-claim'), numberOfKeys: 3 },
    outboxSettle: { lua: loadScript('outbox-settle'), numberOfKeys: 3 },
  };
}

/** record.lua and tally.lua as Redis Functions (functions.ts): what they make before a call is made once. */
export const recordFunction = redisFunction('iotm_record', loadScript('record'));
export const tallyFunction = redisFunction('iotm_tally', loadScript('tally'), ['allow-oom']);
