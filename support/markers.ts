// Generated sections of hand-written files (BENCHMARKS.md, README.md): the text between a named pair of
// HTML comments, replaced whole; the prose around them stays by hand.
import { CommandFailure } from './cli.js';

/** A generated section cannot be written: its message is the one line the command prints before exit code 1. */
export class ReportError extends CommandFailure {
  override readonly name: string = 'ReportError';
}

export function markers(name: string): { start: string; end: string } {
  return { start: `<!-- ${name}:start -->`, end: `<!-- ${name}:end -->` };
}

/**
 * `text` with everything between the markers of `name` replaced by `body`; throws a ReportError,
 * naming `file`, when a marker is missing, appears twice, or the end comes before the start.
 */
export function replaceBetweenMarkers(text: string, name: string, body: string, file = 'the file'): string {
  const { start, end } = markers(name);
  const expected = `the generated section needs ${start} and then ${end}`;
  const from = text.indexOf(start);
  const to = text.indexOf(end);
  if (from < 0 || to < 0) throw new ReportError(`${file}: ${from < 0 ? start : end} not found; ${expected}`);
  for (const [marker, at] of [[start, from], [end, to]] as const) {
    if (text.indexOf(marker, at + 1) >= 0) throw new ReportError(`${file}: ${marker} appears more than once; ${expected}`);
  }
  if (to < from) throw new ReportError(`${file}: ${end} comes before ${start}; ${expected}`);
  return `${text.slice(0, from + start.length)}\n${body}\n${text.slice(to)}`;
}
