// npm run token -- --device sensor-42 [--ttl 30d]: mints a device token, signed with the first key of
// DEVICE_TOKEN_KEYS (the environment, as the functions read it), and prints it on stdout.
import { SETTINGS } from '../shared/config/settings.js';
import { mintDeviceToken } from '../shared/http/device-tokens.js';
import { DEVICE_ID } from '../shared/schemas/names.js';
import { CommandFailure, parseCommandLine, runCommand, usageError } from '../support/cli.js';

const UNITS: Record<string, number> = { s: 1, m: 60, h: 3600, d: 86_400 };
const MAX_TTL_SECONDS = 366 * 86_400;

const { values } = parseCommandLine({
  usage: 'npm run token -- --device <id> [--ttl <duration>]',
  summary: [
    'Mints a device token: it lets its holder write that device only, until it expires.',
    'Signed with the first key of DEVICE_TOKEN_KEYS (id:secret,...), which the functions must have too.',
  ].join('\n'),
  options: {
    device: { type: 'string', arg: 'id', doc: 'the device id the token may write' },
    ttl: { type: 'string', arg: 'duration', default: '30d', doc: 'how long it is valid: a number with s, m, h or d, at most 366d' },
  },
  examples: ["DEVICE_TOKEN_KEYS='k1:change-me-device-token-signing-key-0001' npm run token -- --device sensor-42 --ttl 30d"],
});

function ttlSeconds(text: string): number {
  const match = /^(\d+)([smhd])$/.exec(text);
  const seconds = match ? Number(match[1]) * UNITS[match[2]!]! : NaN;
  if (!(seconds > 0 && seconds <= MAX_TTL_SECONDS)) usageError(`--ttl must be a number with s, m, h or d, up to 366d (got "${text}")`);
  return seconds;
}

await runCommand(async () => {
  if (!values.device) usageError('--device is required');
  if (!DEVICE_ID.test(values.device)) usageError('--device must be 1-128 characters of [A-Za-z0-9_.:-]');
  const ttl = ttlSeconds(values.ttl ?? '30d');
  const raw = process.env.DEVICE_TOKEN_KEYS;
  if (!raw) throw new CommandFailure('DEVICE_TOKEN_KEYS is not set: give the keys the functions use (id:secret,...)');
  const keys = SETTINGS.DEVICE_TOKEN_KEYS.rule.parse(raw);
  if ('error' in keys) throw new CommandFailure(`DEVICE_TOKEN_KEYS ${keys.error}`);
  process.stdout.write(`${await mintDeviceToken(keys.value[0]!, values.device, ttl)}\n`);
});
