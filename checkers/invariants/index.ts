// The invariants checker's public surface (docs/kernel-facts.md §8.2 items 2–8).
export { InvariantsChecker } from './invariants-checker.ts';
export type { InvariantsOptions } from './invariants-checker.ts';
export { INVARIANT_IDS, INVARIANTS, isInvariantId } from './catalog.ts';
export type { InvariantId, InvariantInfo } from './catalog.ts';
