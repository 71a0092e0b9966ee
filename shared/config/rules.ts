import { readFileSync } from 'node:fs';
import { DEVICE_ID } from '../schemas/names.js';

/**
 * How one environment variable is read: `text` is the rule as the configuration table states it, `parse` turns a
 * non-empty raw value into the setting or returns the reason it is refused (completing "NAME must …").
 */
export interface Rule<T> {
  readonly text: string;
  parse(raw: string): { value: T } | { error: string };
}

const ok = <T>(value: T) => ({ value });
const got = (raw: string) => ` (got "${raw.length > 40 ? `${raw.slice(0, 40)}…` : raw}")`;

/** A whole number within [min, max]. */
export const integer = (min: number, max: number, text = `integer ${min}–${max}`): Rule<number> => ({
  text,
  parse: (raw) => {
    const value = Number(raw);
    if (/^-?\d+$/.test(raw.trim()) && Number.isSafeInteger(value) && value >= min && value <= max) return ok(value);
    return { error: `must be an integer from ${min} to ${max}${got(raw)}` };
  },
});

/** A finite number greater than 0. */
export const positive = (): Rule<number> => ({
  text: 'number > 0',
  parse: (raw) => {
    const value = Number(raw);
    if (raw.trim() !== '' && Number.isFinite(value) && value > 0) return ok(value);
    return { error: `must be a number greater than 0${got(raw)}` };
  },
});

/** A number in [min, max]. */
export const between = (min: number, max: number, text = `number ${min}–${max}`): Rule<number> => ({
  text,
  parse: (raw) => {
    const value = Number(raw);
    if (raw.trim() !== '' && Number.isFinite(value) && value >= min && value <= max) return ok(value);
    return { error: `must be a number from ${min} to ${max}${got(raw)}` };
  },
});

/** One of a few names. */
export const oneOf = <const T extends string>(names: readonly T[]): Rule<T> => ({
  text: names.map((n) => `\`${n}\``).join(' or '),
  parse: (raw) => ((names as readonly string[]).includes(raw) ? ok(raw as T) : { error: `must be one of ${names.join(', ')}${got(raw)}` }),
});

/** A string matching `pattern`; `rule` is both the configuration table's text and the error's. */
export const matching = (pattern: RegExp, text: string, error: string): Rule<string> => ({
  text,
  parse: (raw) => (pattern.test(raw) ? ok(raw) : { error }),
});

/** Any text (free-form settings such as a password or a host name label). */
export const anyText = (text = ''): Rule<string> => ({ text, parse: (raw) => ok(raw) });

/** A Redis URL, plain or TLS. */
export const redisUrl = (): Rule<string> =>
  matching(/^rediss?:\/\/[^\s]+$/, '`redis://` or `rediss://` (TLS) URL', 'must be a redis:// or rediss:// URL');

/** A PEM file of certificates, read when the configuration is loaded; the value is its text. */
export const pemFile = (): Rule<string> => ({
  text: 'path of a PEM file',
  parse: (raw) => {
    let text: string;
    try {
      text = readFileSync(raw, 'utf8');
    } catch (error) {
      return { error: `must name a readable file (${(error as NodeJS.ErrnoException).code ?? 'unreadable'}: ${raw})` };
    }
    return text.includes('-----BEGIN CERTIFICATE-----') ? ok(text) : { error: `must be a PEM file of certificates (${raw} has no BEGIN CERTIFICATE)` };
  },
});

/** Signing keys of device tokens: `id:secret` pairs, comma-separated; secrets are never echoed in errors. */
export const signingKeys = (): Rule<ReadonlyArray<{ id: string; secret: string }>> => ({
  text: '`id:secret`, comma-separated; secrets ≥ 32 characters',
  parse: (raw) => {
    const keys = raw.split(',').map((pair) => pair.trim()).filter(Boolean).map((pair) => {
      const at = pair.indexOf(':');
      return { id: at > 0 ? pair.slice(0, at) : '', secret: at > 0 ? pair.slice(at + 1) : '' };
    });
    const bad = keys.findIndex((k) => !/^[A-Za-z0-9_.-]{1,32}$/.test(k.id) || k.secret.length < 32);
    if (keys.length === 0 || bad >= 0) return { error: `must be id:secret pairs with ids of [A-Za-z0-9_.-] and secrets of at least 32 characters (key ${bad + 1} is not)` };
    if (new Set(keys.map((k) => k.id)).size !== keys.length) return { error: 'must not repeat a key id' };
    return ok(Object.freeze(keys));
  },
});

/** An HTTP(S) URL. */
export const httpUrl = (): Rule<string> =>
  matching(/^https?:\/\/[^\s]+$/, '`http://` or `https://` URL', 'must be an http:// or https:// URL');

/** K_CE_OVERRIDES as a SinkBinding sets it: JSON `{"extensions": {name: value}}`, names as CloudEvents allows. */
export const ceOverrides = (): Rule<Readonly<Record<string, string>>> => ({
  text: 'JSON `{"extensions": {…}}`',
  parse: (raw) => {
    let parsed: unknown;
    try {
      parsed = JSON.parse(raw);
    } catch {
      return { error: `must be JSON${got(raw)}` };
    }
    const isObject = (x: unknown): x is object => typeof x === 'object' && x !== null && !Array.isArray(x);
    // Only a missing "extensions" means none; null, an array or anything but an object is a mistake.
    const extensions = isObject(parsed) && 'extensions' in parsed ? parsed.extensions : {};
    if (!isObject(parsed) || !isObject(extensions)) {
      return { error: `must be a JSON object whose "extensions" is an object${got(raw)}` };
    }
    const entries = Object.entries(extensions).map(([name, value]) => [name, String(value)] as const);
    const bad = entries.find(([name]) => !/^[a-z0-9]{1,20}$/.test(name));
    if (bad) return { error: `must name extensions of 1–20 characters [a-z0-9] (got "${bad[0].slice(0, 40)}")` };
    return ok(Object.freeze(Object.fromEntries(entries)));
  },
});

const HOST_PORT = /^[^\s:/]+:\d{1,5}$/;

/** One `host:port`. */
export const hostPort = (): Rule<string> => matching(HOST_PORT, '`host:port`', 'must be host:port');

/** A comma-separated list of host:port, as parsed addresses. */
export const hostPorts = (): Rule<ReadonlyArray<{ host: string; port: number }>> => ({
  text: 'comma-separated `host:port`',
  parse: (raw) => {
    const list = raw.split(',').map((n) => n.trim());
    if (!list.every((n) => HOST_PORT.test(n))) return { error: 'must be a comma-separated list of host:port' };
    return ok(Object.freeze(list.map((n) => ({ host: n.slice(0, n.lastIndexOf(':')), port: Number(n.slice(n.lastIndexOf(':') + 1)) }))));
  },
});

/** Bearer tokens, long enough not to be guessed. */
export const tokens = (): Rule<readonly string[]> => ({
  text: 'comma-separated, ≥ 16 characters each',
  parse: (raw) => {
    const list = raw.split(',').map((t) => t.trim()).filter(Boolean);
    if (list.some((t) => t.length < 16 || /\s/.test(t))) return { error: 'must be a comma-separated list of tokens of at least 16 characters' };
    return ok(Object.freeze(list));
  },
});

/** Device ids by the event schema's own rule. */
export const deviceIds = (max: number): Rule<readonly string[]> => ({
  text: `≤ ${max} comma-separated device ids`,
  parse: (raw) => {
    const list = raw.split(',').map((d) => d.trim()).filter(Boolean);
    if (list.length > max) return { error: `must list at most ${max} device ids` };
    if (!list.every((d) => DEVICE_ID.test(d))) return { error: 'must be a comma-separated list of device ids' };
    return ok(Object.freeze(list));
  },
});
