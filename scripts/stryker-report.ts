// The part of Stryker's JSON report (mutation-testing-report-schema) that the mutation scripts read.

/** A place in a source file; lines and columns count from 1. */
export type Position = { line: number; column: number };
export type Mutant = { id: string; mutatorName: string; replacement?: string; status: string; location: { start: Position; end: Position } };
export type Report = { files: Record<string, { mutants: Mutant[] }> };

/** A status of a mutant no test killed (survived, or reached by none): what the scripts re-test. */
export const isOpen = (status: string | undefined) => status === 'Survived' || status === 'NoCoverage';
