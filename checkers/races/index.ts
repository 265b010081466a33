// The races checker's public surface: the checker, and the pieces an offline tool may reuse.
export { RaceChecker } from './race-checker.ts';
export type { RaceCheckerOptions } from './race-checker.ts';
export { HappensBefore } from './happens-before.ts';
export { formatValue } from './print.ts';
