// How each kind of setting reads its raw text: the value it gives, or the exact reason it refuses
// (which completes "NAME must …" in the start-up error). Pure functions: no servers.
import { describe, expect, it } from 'vitest';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { ConfigError, loadConfig } from '../../shared/config/load.js';
import { between, ceOverrides, deviceIds, hostPorts, integer, pemFile, positive, signingKeys, tokens } from '../../shared/config/rules.js';

const SECRET = 's'.repeat(32);

describe('numbers', () => {
  it.each([
    ['2.5', 2.5], [' 7 ', 7], ['1e-3', 0.001],
  ])('positive() takes %j as %d', (raw, value) => {
    expect(positive().parse(raw)).toEqual({ value });
  });

  it.each(['0', '-1', ' ', 'abc', 'Infinity', '1/0'])('positive() refuses %j', (raw) => {
    expect(positive().parse(raw)).toEqual({ error: `must be a number greater than 0 (got "${raw}")` });
  });

  it.each([['0.5', 0.5], ['1', 1], ['0.75', 0.75]])('between(0.5, 1) takes %j, both ends included', (raw, value) => {
    expect(between(0.5, 1).parse(raw)).toEqual({ value });
  });

  it.each(['0.4999', '1.0001', ' ', 'NaN', 'Infinity', 'x'])('between(0.5, 1) refuses %j', (raw) => {
    expect(between(0.5, 1).parse(raw)).toEqual({ error: `must be a number from 0.5 to 1 (got "${raw}")` });
  });

  it.each([' ', ''])('between(0, 1) refuses %j, which Number() would read as 0', (raw) => {
    expect(between(0, 1).parse(raw)).toEqual({ error: `must be a number from 0 to 1 (got "${raw}")` });
    expect(positive().parse(raw)).toHaveProperty('error');
  });

  it('names its bounds in the configuration table\'s text unless given one, and cuts a long raw value in its error', () => {
    expect(between(0, 1).text).toBe('number 0–1');
    expect(between(0, 1, 'a share').text).toBe('a share');
    expect(integer(1, 9).parse('9'.repeat(50))).toEqual({ error: `must be an integer from 1 to 9 (got "${'9'.repeat(40)}…")` });
  });
});

describe('signingKeys()', () => {
  it('reads id:secret pairs, trimmed, the secret keeping any colon after the first', () => {
    expect(signingKeys().parse(` k1:${SECRET} , k.2-b_c:${SECRET}:x,`)).toEqual({
      value: [{ id: 'k1', secret: SECRET }, { id: 'k.2-b_c', secret: `${SECRET}:x` }],
    });
  });

  it.each([
    [`:${SECRET}`, 1], // no id
    [`k1${SECRET}`, 1], // no colon at all
    [`ab${'s'.repeat(31)}`, 1], // no colon, short enough that all but its last character would pass as an id
    [`k1:${'s'.repeat(31)}`, 1], // secret one character short
    [`k1:${SECRET},bad id:${SECRET}`, 2],
    [`k1:${SECRET},${'i'.repeat(33)}:${SECRET}`, 2], // id longer than 32
    [`k1:${SECRET},x/y:${SECRET}`, 2],
  ])('refuses %j, naming key %d', (raw, key) => {
    expect(signingKeys().parse(raw)).toEqual({
      error: `must be id:secret pairs with ids of [A-Za-z0-9_.-] and secrets of at least 32 characters (key ${key} is not)`,
    });
  });

  it('refuses a list of no keys and a repeated id, and never echoes a secret', () => {
    expect(signingKeys().parse(' , ')).toEqual({ error: expect.stringContaining('(key 0 is not)') });
    expect(signingKeys().parse(`a:${SECRET},a:${'t'.repeat(32)}`)).toEqual({ error: 'must not repeat a key id' });
    expect(JSON.stringify(signingKeys().parse(`k1:${'s'.repeat(20)}`))).not.toContain('s'.repeat(20));
  });
});

describe('ceOverrides()', () => {
  it('takes the extensions as strings, and an object without extensions as none', () => {
    expect(ceOverrides().parse('{"extensions": {"cluster": "eu1", "n": 3}}')).toEqual({ value: { cluster: 'eu1', n: '3' } });
    expect(ceOverrides().parse('{}')).toEqual({ value: {} });
  });

  it.each(['[]', 'null', '"x"', '{"extensions": null}', '{"extensions": "a"}', '{"extensions": ["a"]}', '{"extensions": 3}'])(
    'refuses %s',
    (raw) => {
      expect(ceOverrides().parse(raw)).toEqual({ error: `must be a JSON object whose "extensions" is an object (got "${raw}")` });
    },
  );

  it.each(['Cluster', 'a-b', '', 'x'.repeat(21), 'é'])('refuses the extension name %j', (name) => {
    expect(ceOverrides().parse(JSON.stringify({ extensions: { ok: '1', [name]: 'v' } }))).toEqual({
      error: `must name extensions of 1–20 characters [a-z0-9] (got "${name}")`,
    });
  });

  it('cuts a long extension name in its error at 40 characters', () => {
    expect(ceOverrides().parse(JSON.stringify({ extensions: { [`A${'b'.repeat(59)}`]: 'v' } }))).toEqual({
      error: `must name extensions of 1–20 characters [a-z0-9] (got "A${'b'.repeat(39)}")`,
    });
  });

  it('refuses text that is not JSON', () => {
    expect(ceOverrides().parse('{extensions:')).toEqual({ error: 'must be JSON (got "{extensions:")' });
  });
});

describe('lists', () => {
  it('hostPorts() parses hosts and ports, trimmed, the port after the last colon', () => {
    expect(hostPorts().parse('10.0.0.1:7000, redis-b:7001')).toEqual({ value: [{ host: '10.0.0.1', port: 7000 }, { host: 'redis-b', port: 7001 }] });
  });

  it.each(['a:7000,', 'a', 'a:', 'a:123456', 'http://a:1', 'a b:1'])('hostPorts() refuses %j', (raw) => {
    expect(hostPorts().parse(raw)).toEqual({ error: 'must be a comma-separated list of host:port' });
  });

  it('tokens() takes tokens of 16 characters or more, trimmed, empty items dropped', () => {
    expect(tokens().parse(` ${'a'.repeat(16)} ,,${'b'.repeat(40)}`)).toEqual({ value: ['a'.repeat(16), 'b'.repeat(40)] });
  });

  it.each(['a'.repeat(15), `${'a'.repeat(16)},${'b'.repeat(15)}`, `${'a'.repeat(8)} ${'a'.repeat(8)}`])('tokens() refuses %j', (raw) => {
    expect(tokens().parse(raw)).toEqual({ error: 'must be a comma-separated list of tokens of at least 16 characters' });
  });

  it('deviceIds() takes up to its maximum of valid ids', () => {
    expect(deviceIds(2).parse(' a , b ')).toEqual({ value: ['a', 'b'] });
    expect(deviceIds(2).parse('a,b,c')).toEqual({ error: 'must list at most 2 device ids' });
    expect(deviceIds(2).parse('a,b c')).toEqual({ error: 'must be a comma-separated list of device ids' });
  });
});

describe('the configuration table\'s text of each kind of rule', () => {
  it('says what a value must be', () => {
    expect([integer(1, 9).text, positive().text, pemFile().text, signingKeys().text, ceOverrides().text, hostPorts().text, tokens().text, deviceIds(5).text]).toEqual([
      'integer 1–9',
      'number > 0',
      'path of a PEM file',
      '`id:secret`, comma-separated; secrets ≥ 32 characters',
      'JSON `{"extensions": {…}}`',
      'comma-separated `host:port`',
      'comma-separated, ≥ 16 characters each',
      '≤ 5 comma-separated device ids',
    ]);
  });
});

describe('pemFile()', () => {
  it('gives the text of a file of certificates, and refuses one without any, or a missing file, naming it', () => {
    const dir = mkdtempSync(join(tmpdir(), 'iot-pem-'));
    try {
      const pem = join(dir, 'ca.pem');
      const text = '-----BEGIN CERTIFICATE-----\nMIIB\n-----END CERTIFICATE-----\n';
      writeFileSync(pem, text);
      expect(pemFile().parse(pem)).toEqual({ value: text });
      writeFileSync(join(dir, 'key.pem'), 'not a certificate');
      expect(pemFile().parse(join(dir, 'key.pem'))).toEqual({ error: `must be a PEM file of certificates (${join(dir, 'key.pem')} has no BEGIN CERTIFICATE)` });
      expect(pemFile().parse(join(dir, 'gone.pem'))).toEqual({ error: `must name a readable file (ENOENT: ${join(dir, 'gone.pem')})` });
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
});

describe('a refused configuration', () => {
  it('is a ConfigError, by class and by name, with the whole sentence as its message', () => {
    let thrown: unknown;
    try {
      loadConfig({ WINDOW_SIZE: '1' });
    } catch (error) {
      thrown = error;
    }
    expect(thrown).toBeInstanceOf(ConfigError);
    expect(thrown).toMatchObject({ name: 'ConfigError', message: 'Invalid configuration: WINDOW_SIZE must be an integer from 2 to 10000 (got "1")' });
  });
});
