export { IsolationChecker } from './isolation-checker.ts';
export type { BreachRule } from './rules.ts';
