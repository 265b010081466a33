import { errno } from '../../../protocol/errno.ts';
import type { Errno } from '../../../protocol/errno.ts';
import type { VariantValue } from '../../../protocol/variants.ts';
import { underGroup } from '../state.ts';
import type { DevIommu, Group, IK } from '../state.ts';

/**
 * Variant `reset-nesting` (seed 003, bug B8): a reset method that calls
 * another (cxl_reset_bus_function → pci_reset_bus_function) prepares twice.
 * Runs under group->mutex.
 */
export interface ResetNestingImpl {
  /** On prepare: act ('outermost'), do nothing ('nested'), or refuse. */
  enter(k: IK, g: Group, di: DevIommu): 'outermost' | 'nested' | Errno;
  /** A failed outermost prepare undoes its entry. */
  abort(k: IK, di: DevIommu, ret: Errno): Errno;
  /** On done: true when this is the outermost done, which acts. */
  leave(k: IK, di: DevIommu): boolean;
}

/** 7.0.0: re-entry is a WARN and -EBUSY, so the nested reset fails. */
const warnEbusy: ResetNestingImpl = {
  enter(k, g) {
    if (k.read(g, 'resetting_domain', underGroup(g.id)) !== null) {
      k.warn('pci_dev_reset_iommu_prepare: WARN_ON(group->resetting_domain): re-entry is not allowed');
      return errno('EBUSY');
    }
    return 'outermost';
  },
  abort: (_k, _di, ret) => ret,
  leave: () => true,
};

/** The stable fix (0d5fd7a9323c): a per-device depth; only the outermost prepare and done act. */
const depthCounter: ResetNestingImpl = {
  enter(k, g, di) {
    const depth = di.reset_depth;
    if (depth > 0) {
      k.write(di, 'reset_depth', depth + 1, underGroup(g.id));
      return 'nested';
    }
    if (k.read(g, 'resetting_domain', underGroup(g.id)) !== null) {
      k.warn('pci_dev_reset_iommu_prepare: WARN_ON(group->resetting_domain): another member is resetting');
      return errno('EBUSY');
    }
    k.write(di, 'reset_depth', 1, underGroup(g.id));
    return 'outermost';
  },
  abort(k, di, ret) {
    k.write(di, 'reset_depth', 0, { lockless: true });
    return ret;
  },
  leave(k, di) {
    const depth = Math.max(0, di.reset_depth - 1);
    k.write(di, 'reset_depth', depth, { lockless: true });
    return depth === 0;
  },
};

export const RESET_NESTING: { readonly [V in VariantValue<'reset-nesting'>]: ResetNestingImpl } = {
  'warn-ebusy': warnEbusy,
  'depth-counter': depthCounter,
};
