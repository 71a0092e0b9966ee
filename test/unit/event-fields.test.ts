import { describe, expect, it } from 'vitest';
import { type FieldIssue, parseEvent } from '../../shared/schemas/event.js';

const NOW = Date.UTC(2026, 0, 15, 12);
/** The issues of one event, or its reading when it is valid. */
function parse(raw: unknown) {
  const issues: FieldIssue[] = [];
  const reading = parseEvent(raw, NOW, issues);
  return reading ?? issues;
}

describe('what an event field is refused for, exactly', () => {
  it.each([
    [{ cpu: 'x' }, 'cpu', 'must be a finite JSON number (got string "x")'],
    [{ cpu: 'y'.repeat(40) }, 'cpu', `must be a finite JSON number (got string "${'y'.repeat(40)}")`],
    [{ cpu: 'y'.repeat(41) }, 'cpu', 'must be a finite JSON number (got string of 41 characters)'],
    [{ cpu: [1] }, 'cpu', 'must be a finite JSON number (got array)'],
    [{ cpu: {} }, 'cpu', 'must be a finite JSON number (got object)'],
    [{ cpu: true }, 'cpu', 'must be a finite JSON number (got boolean)'],
    [{ cpu: null }, 'cpu', 'must be a finite JSON number (got null)'],
    [{ cpu: Infinity }, 'cpu', 'must be a finite JSON number (got a non-finite number)'],
    [{ cpu: 1e101 }, 'cpu', 'must be within ±1e+100 (got 1e+101)'],
    [{ CPU: 1 }, 'CPU', 'is not a valid metric name: must match ^[a-z][a-z0-9_]{0,62}$'],
    [{ ['m'.repeat(70)]: 'x' }, `${'m'.repeat(64)}…`, 'is not a valid metric name: must match ^[a-z][a-z0-9_]{0,62}$'],
    [{ device_id: 5, cpu: 1 }, 'device_id', 'must be a string of 1-128 characters of [A-Za-z0-9_.:-] (got number 5)'],
    [{ id: '', cpu: 1 }, 'id', 'must be a string of 1-128 characters (got string "")'],
    [{ timestamp: -1, cpu: 1 }, 'timestamp', 'must be a non-negative Unix time (got number -1)'],
    [{ timestamp: 'yesterday', cpu: 1 }, 'timestamp', 'must be an ISO-8601 date-time or a Unix time number (got string "yesterday")'],
    [{ timestamp: '2024-02-30', cpu: 1 }, 'timestamp', 'is not a valid date-time (got string "2024-02-30")'],
    [{ timestamp: true, cpu: 1 }, 'timestamp', 'must be an ISO-8601 string or a Unix time number (got boolean)'],
    [{ timestamp: NOW / 1000 + 24 * 3600 + 1, cpu: 1 }, 'timestamp', 'is more than 24 hours in the future'],
    [{}, '(event)', 'has no metric: send at least one numeric field such as "cpu"'],
    [7, '(event)', 'must be a JSON object (got number 7)'],
    [Object.fromEntries(Array.from({ length: 33 }, (_, i) => [`m${i}`, i])), '(event)', 'has 33 metrics; at most 32 are allowed'],
  ])('%j → %s %s', (raw, field, message) => {
    expect(parse(raw)).toEqual([{ field, message }]);
  });

  it('takes times at their bounds: the epoch, exactly 24 hours ahead, seconds or milliseconds, and no offset as UTC', () => {
    expect(parse({ timestamp: 0, cpu: 1 })).toMatchObject({ timestamp: 0 });
    expect(parse({ timestamp: '1970-01-01T00:00:00Z', cpu: 1 })).toMatchObject({ timestamp: 0 });
    expect(parse({ timestamp: NOW / 1000 + 24 * 3600, cpu: 1 })).toMatchObject({ timestamp: NOW + 24 * 3600 * 1000 });
    expect(parse({ timestamp: 1_700_000_000, cpu: 1 })).toMatchObject({ timestamp: 1_700_000_000_000 });
    expect(parse({ timestamp: 1_700_000_000_001, cpu: 1 })).toMatchObject({ timestamp: 1_700_000_000_001 });
    expect(parse({ timestamp: '2024-01-15T10:30:00', cpu: 1 })).toMatchObject({ timestamp: Date.UTC(2024, 0, 15, 10, 30) });
    expect(parse({ timestamp: '2024-01-15 10:30:00+02:00', cpu: 1 })).toMatchObject({ timestamp: Date.UTC(2024, 0, 15, 8, 30) });
    expect(parse({ timestamp: '2024-01-15', cpu: 1 })).toMatchObject({ timestamp: Date.UTC(2024, 0, 15) });
  });

  it('takes a time without an offset as UTC whatever the server time zone is', () => {
    // vitest.config.ts runs the suite in America/New_York: UTC−5 in January.
    expect(new Date(2024, 0, 15).getTimezoneOffset()).toBe(300);
    expect(parse({ timestamp: '2024-01-15T10:30:00', cpu: 1 })).toMatchObject({ timestamp: Date.UTC(2024, 0, 15, 10, 30) });
    expect(parse({ timestamp: '2024-01-15 10:30', cpu: 1 })).toMatchObject({ timestamp: Date.UTC(2024, 0, 15, 10, 30) });
  });

  it('takes an offset without a colon, refuses a date-time before 1970, and text around one as no date-time at all', () => {
    expect(parse({ timestamp: '2024-01-15T10:30:00-0500', cpu: 1 })).toMatchObject({ timestamp: Date.UTC(2024, 0, 15, 15, 30) });
    expect(parse({ timestamp: '1969-12-31T23:59:59Z', cpu: 1 })).toEqual([
      { field: 'timestamp', message: 'is not a valid date-time (got string "1969-12-31T23:59:59Z")' },
    ]);
    for (const text of ['x2024-01-15T10:30:00Z', '2024-01-15T10:30:00Z x']) {
      expect(parse({ timestamp: text, cpu: 1 })).toEqual([
        { field: 'timestamp', message: `must be an ISO-8601 date-time or a Unix time number (got string "${text}")` },
      ]);
    }
  });

  it('takes a value of exactly ±1e100, and refuses the next number beyond it', () => {
    expect(parse({ cpu: 1e100, rps: -1e100 })).toMatchObject({ metrics: [['cpu', 1e100], ['rps', -1e100]] });
    expect(parse({ cpu: 1.0000000000000002e100 })).toEqual([{ field: 'cpu', message: 'must be within ±1e+100 (got 1.0000000000000002e+100)' }]);
  });
});
