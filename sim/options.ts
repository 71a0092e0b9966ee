import { CommandFailure, usageError } from '../support/cli.js';

export { CommandFailure, runCommand } from '../support/cli.js';
import { parseTimestamp } from '../shared/schemas/time.js';

/** What went wrong with a file, in a few words (node's message repeats the path and the syscall). */
export function fileProblem(path: string, error: unknown): CommandFailure {
  const code = (error as NodeJS.ErrnoException).code;
  const reasons: Record<string, string> = {
    ENOENT: 'no such file or directory',
    EISDIR: 'is a directory',
    ENOTDIR: 'a part of the path is not a directory',
    EACCES: 'permission denied',
    EEXIST: 'a file is in the way',
  };
  return new CommandFailure(`${path}: ${(code && reasons[code]) ?? (error as Error).message}`);
}

const got = (raw: string | undefined) => (raw === undefined ? 'nothing' : `"${raw}"`);

/** A finite number greater than 0. */
export function positive(name: string, raw: string | undefined): number {
  const n = Number(raw);
  if (raw === undefined || raw.trim() === '' || !Number.isFinite(n) || n <= 0) usageError(`--${name} must be a number greater than 0 (got ${got(raw)})`);
  return n;
}

/** A whole number greater than 0. */
export function count(name: string, raw: string | undefined): number {
  const n = Number(raw);
  if (raw === undefined || !/^\d+$/.test(raw.trim()) || !Number.isSafeInteger(n) || n <= 0) usageError(`--${name} must be a whole number greater than 0 (got ${got(raw)})`);
  return n;
}

/** A number from 0 to 1. */
export function fraction(name: string, raw: string | undefined): number {
  const n = Number(raw);
  if (raw === undefined || raw.trim() === '' || !(n >= 0 && n <= 1)) usageError(`--${name} must be a number from 0 to 1 (got ${got(raw)})`);
  return n;
}

/** A seed of the generator in support/random.ts: a whole number from 0 to 2³²-1 (it keeps 32 bits). */
export function seed(name: string, raw: string | undefined): number {
  const n = Number(raw);
  if (raw === undefined || !/^\d+$/.test(raw.trim()) || n > 0xffffffff) usageError(`--${name} must be a whole number from 0 to 4294967295 (got ${got(raw)})`);
  return n;
}

/** One of a few names. */
export function oneOf<T extends string>(name: string, raw: string | undefined, choices: readonly T[]): T {
  if (!choices.includes(raw as T)) usageError(`--${name} must be one of ${choices.join(', ')} (got ${got(raw)})`);
  return raw as T;
}

/** An ISO-8601 date-time (UTC when it has no offset), as ms since the epoch. */
export function instant(name: string, raw: string | undefined): number {
  const ms = parseTimestamp(raw ?? '', Number.MAX_SAFE_INTEGER);
  if (raw === undefined || typeof ms === 'string') usageError(`--${name} must be an ISO-8601 date-time such as 2026-01-01T00:00:00Z (got ${got(raw)})`);
  return ms as number;
}

/** An http(s) URL, without a trailing slash. */
export function httpUrl(name: string, raw: string): string {
  let url: URL | undefined;
  try {
    url = new URL(raw);
  } catch {
    url = undefined;
  }
  if (!url || !/^https?:$/.test(url.protocol)) usageError(`--${name} must be an http or https URL such as http://localhost:8080 (got ${got(raw)})`);
  return raw.replace(/\/+$/, '');
}

/** Comma-separated numbers greater than 0. */
export function positiveList(name: string, raw: string | undefined): number[] {
  const items = (raw ?? '').split(',').map((s) => s.trim());
  const numbers = items.map(Number);
  if (raw === undefined || items.some((s, i) => s === '' || !(numbers[i]! > 0) || !Number.isFinite(numbers[i]!))) {
    usageError(`--${name} must be numbers greater than 0, separated by commas, such as 1.5,2.5,3 (got ${got(raw)})`);
  }
  return numbers;
}
