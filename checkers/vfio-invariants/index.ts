export { VfioInvariantsChecker } from './vfio-invariants-checker.ts';
export { VFIO_INVARIANTS, VFIO_INVARIANT_IDS } from './rules.ts';
export type { VfioInvariantId } from './rules.ts';
