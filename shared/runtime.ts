/** Node majors past their end of life, with the date it came (https://nodejs.org/en/about/previous-releases). */
const END_OF_LIFE: Readonly<Record<number, string>> = { 20: '2026-04-30' };
const SUPPORTED_FROM = 20;

let warned = false;

/**
 * Warns once per process, in one JSON log line, when this Node.js is past its end of life: the service
 * still starts on Node 20.19 or later, but is built, tested and measured on Node 24 LTS.
 */
export function warnIfEndOfLife(version: string = process.versions.node): string | undefined {
  const major = Number(version.split('.')[0]);
  const ended = major < SUPPORTED_FROM ? 'long ago' : END_OF_LIFE[major];
  if (!ended || warned) return undefined;
  warned = true;
  const message = `Node.js ${version} reached its end of life (${ended}): run this service on Node.js 24 LTS`;
  console.error(JSON.stringify({ severity: 'WARNING', message }));
  return message;
}
