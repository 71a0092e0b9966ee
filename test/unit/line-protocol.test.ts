import { Point } from '@influxdata/influxdb-client';
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { type FieldValue, LineProtocolError, parseLineProtocol } from '../../shared/http/line-protocol.js';
import { assemble, metricName } from '../../shared/http/sender-mapping.js';

/** The line protocol parser alone: InfluxData's client serializes, the parser reads back; garbage never crashes it. */
const RUNS = Number(process.env.FUZZ_RUNS ?? 1000);
const byKey = ([a]: readonly [string, unknown], [b]: readonly [string, unknown]) => (a < b ? -1 : a > b ? 1 : 0);

describe('parseLineProtocol', () => {
  it('reads escapes, every field type, timestamps, comments and blank lines', () => {
    const text = [
      '# a comment',
      '',
      'my\\ meas\\,ure,tag\\ key=tag\\=val\\,ue f\\=1=1.5,i=-42i,u=42u,s="say \\"hi\\"\\\\",b=TRUE,c=f 1767225600000000000',
      '  weather temp=1e3,dot=.5',
      'multi s="two',
      'lines" 12',
    ].join('\r\n');
    const points = parseLineProtocol(text);
    expect(points).toEqual([
      {
        line: 3,
        measurement: 'my meas,ure',
        tags: [['tag key', 'tag=val,ue']],
        fields: [
          ['f=1', { kind: 'float', value: 1.5 }],
          ['i', { kind: 'integer', value: -42 }],
          ['u', { kind: 'unsigned', value: 42 }],
          ['s', { kind: 'string', value: 'say "hi"\\' }],
          ['b', { kind: 'boolean', value: true }],
          ['c', { kind: 'boolean', value: false }],
        ],
        timestamp: '1767225600000000000',
      },
      { line: 4, measurement: 'weather', tags: [], fields: [['temp', { kind: 'float', value: 1000 }], ['dot', { kind: 'float', value: 0.5 }]] },
      { line: 5, measurement: 'multi', tags: [], fields: [['s', { kind: 'string', value: 'two\nlines' }]], timestamp: '12' },
    ]);
  });

  it.each([
    ['cpu', 1, 'missing fields'],
    ['cpu,host=a', 1, 'missing fields'],
    ['cpu,host x=1', 1, 'missing tag value'],
    ['cpu,=a x=1', 1, 'missing tag key'],
    ['cpu x', 1, 'missing field value'],
    ['cpu =1', 1, 'missing field key'],
    ['ok x=1\ncpu x=1 12a', 2, 'invalid timestamp'],
    ['ok x=1\n\n\ncpu x=NaN', 4, 'invalid value "NaN"'],
    ['cpu x=1u,y=-1u', 1, 'invalid value "-1u"'],
    ['cpu x=18446744073709551616u', 1, 'out of the uint64 range'],
    ['cpu x=1e999', 1, 'out of range'],
    [',host=a x=1', 1, 'missing measurement'],
  ])('refuses %j on line %i: %s', (text, line, reason) => {
    let error: unknown;
    try {
      parseLineProtocol(text);
    } catch (e) {
      error = e;
    }
    expect(error).toBeInstanceOf(LineProtocolError);
    expect((error as LineProtocolError).line).toBe(line);
    expect((error as LineProtocolError).reason).toContain(reason);
  });

  // The client leaves backslashes in names as they are, so one before a space, comma or = would be read
  // as an escape (by InfluxDB too): names without backslashes here; escaped backslashes are tested above.
  // The client keeps fields and tags in a plain object, where `__proto__` is no key: it drops such a field.
  const key = fc.string({ minLength: 1, maxLength: 12 }).filter((s) => !s.includes('\n') && !s.includes('\\') && s.trim() === s && !s.startsWith('#') && s !== '__proto__');
  const field = fc.oneof(
    fc.double({ noNaN: true, noDefaultInfinity: true }).map((v): FieldValue => ({ kind: 'float', value: v })),
    fc.integer().map((v): FieldValue => ({ kind: 'integer', value: v })),
    fc.nat().map((v): FieldValue => ({ kind: 'unsigned', value: v })),
    fc.string({ maxLength: 20 }).map((v): FieldValue => ({ kind: 'string', value: v })),
    fc.boolean().map((v): FieldValue => ({ kind: 'boolean', value: v })),
  );
  const point = fc.record({
    measurement: key,
    tags: fc.uniqueArray(fc.tuple(key, key), { maxLength: 3, selector: ([k]) => k }),
    fields: fc.uniqueArray(fc.tuple(key, field), { minLength: 1, maxLength: 4, selector: ([k]) => k }),
    timestamp: fc.option(fc.bigInt({ min: 0n, max: 9_000_000_000_000_000_000n }).map(String), { nil: undefined }),
  });

  it('reads back what the InfluxDB client writes', () => {
    fc.assert(
      fc.property(fc.array(point, { minLength: 1, maxLength: 5 }), (points) => {
        const lines = points.map((p) => {
          const out = new Point(p.measurement);
          for (const [k, v] of p.tags) out.tag(k, v);
          for (const [k, f] of p.fields) {
            if (f.kind === 'float') out.floatField(k, f.value);
            else if (f.kind === 'integer') out.intField(k, f.value);
            else if (f.kind === 'unsigned') out.uintField(k, f.value);
            else if (f.kind === 'string') out.stringField(k, f.value);
            else out.booleanField(k, f.value);
          }
          // An empty timestamp: none (without one the client stamps the current time).
          out.timestamp(p.timestamp ?? '');
          return out.toLineProtocol()!;
        });
        const parsed = parseLineProtocol(lines.join('\n'));
        expect(parsed.map(({ line: _line, ...rest }) => rest)).toEqual(
          points.map((p) => ({
            measurement: p.measurement,
            // The client sorts tags and fields by key; the parser keeps the order it reads.
            tags: [...p.tags].sort(byKey),
            fields: [...p.fields].sort(byKey).map(([k, f]) => [k, f.kind === 'float' && Object.is(f.value, -0) ? { kind: 'float', value: 0 } : f]),
            ...(p.timestamp === undefined ? {} : { timestamp: p.timestamp }),
          })),
        );
      }),
      { numRuns: RUNS },
    );
  });

  it('either parses or throws LineProtocolError naming a line of the input, on anything', () => {
    const piece = fc.constantFrom('cpu', ',', ' ', '=', '"', '\\', '\n', '\r\n', '#', 'x=1', 'i=1i', 'u=1u', 'b=t', 's="x y"', '12', '-', 'é', '\t');
    const text = fc.oneof(fc.array(piece, { maxLength: 30 }).map((p) => p.join('')), fc.string({ maxLength: 100 }), fc.string({ unit: 'binary', maxLength: 100 }));
    fc.assert(
      fc.property(text, (input) => {
        try {
          parseLineProtocol(input);
        } catch (error) {
          expect(error).toBeInstanceOf(LineProtocolError);
          expect((error as LineProtocolError).line).toBeGreaterThanOrEqual(1);
          expect((error as LineProtocolError).line).toBeLessThanOrEqual(input.split('\n').length);
        }
      }),
      { numRuns: RUNS * 5 },
    );
  });
});

describe('the sender mapping', () => {
  it.each([
    ['cpu_usage_idle', 'cpu_usage_idle'],
    ['system.cpu.time', 'system_cpu_time'],
    ['HTTP-Requests', 'http_requests'],
    ['1min_load', 'm_1min_load'],
    ['_x', 'm__x'],
    ['é', 'm__'],
    ['a'.repeat(80), 'a'.repeat(63)],
  ])('%s → %s', (name, expected) => {
    expect(metricName(name)).toBe(expected);
    expect(metricName(name)).toMatch(/^[a-z][a-z0-9_]{0,62}$/);
  });

  it('maps any name into the metric character set', () => {
    fc.assert(
      fc.property(fc.string({ minLength: 1 }), (name) => {
        expect(metricName(name)).toMatch(/^[a-z][a-z0-9_]{0,62}$/);
      }),
    );
  });

  it('folds values of one device and time into readings of at most 32 distinct metrics', () => {
    const values = Array.from({ length: 40 }, (_, i) => ({ device: 'd', timestamp: 1, metric: `m${i}`, value: i, origin: i }));
    values.push({ device: 'd', timestamp: 1, metric: 'm0', value: 99, origin: 40 }, { device: 'e', timestamp: 1, metric: 'm0', value: 1, origin: 41 });
    const { readings, origins } = assemble(values);
    expect(readings.map((r) => [r.deviceId, r.metrics.length])).toEqual([
      ['d', 32],
      ['d', 9],
      ['e', 1],
    ]);
    expect(origins[1]).toEqual([32, 33, 34, 35, 36, 37, 38, 39, 40]);
  });
});
