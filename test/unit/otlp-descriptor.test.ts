import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { descriptorSource } from '../../scripts/otlp-descriptor.js';

describe('the OTLP descriptor', () => {
  it('is what npm run otlp:descriptor makes of the vendored .proto files', () => {
    const committed = readFileSync(new URL('../../shared/http/otlp-descriptor.ts', import.meta.url), 'utf8');
    expect(committed).toBe(descriptorSource());
  });
});
