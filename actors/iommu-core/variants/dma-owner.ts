import { errno } from '../../../protocol/errno.ts';
import { DRIVER_CORE } from '../../../protocol/kernel.ts';
import type { DriverSnapshot } from '../../../protocol/driver-core.ts';
import type { VariantValue } from '../../../protocol/variants.ts';
import { underGroup } from '../state.ts';
import type { Group, IK } from '../state.ts';
import type { Ret } from '../attach.ts';
import { pasidsAttached, takeDmaOwnership } from '../owner.ts';

/**
 * Variant `dma-owner` (seed 000): how a kernel driver's bind and a user
 * claim of the same iommu group exclude each other. Each function runs with
 * group->mutex held.
 */
export interface DmaOwnerImpl {
  /** iommu_device_use_default_domain() as really_probe → dma_configure reaches it. */
  useDefaultDomain(k: IK, g: Group, dev: string): Promise<Ret>;
  unuseDefaultDomain(k: IK, g: Group, dev: string): Promise<void>;
  /** iommu_group_claim_dma_owner(). */
  claimGroup(k: IK, g: Group, owner: string): Promise<Ret>;
}

/**
 * 5.19+ (1ea2a07a532b): owner_cnt counts kernel drivers from dma_configure
 * under group->mutex, so a claim is refused up front (-EPERM) and a bind into
 * a user-owned group fails (-EBUSY).
 */
const ownerCnt: DmaOwnerImpl = {
  async useDefaultDomain(k, g) {
    if (k.read(g, 'default_domain', underGroup(g.id)) === null) return errno('EPROBE_DEFER');
    const cnt = k.read(g, 'owner_cnt', underGroup(g.id));
    if (cnt > 0) {
      if (k.read(g, 'domain', underGroup(g.id)) !== k.read(g, 'default_domain', underGroup(g.id))
        || k.read(g, 'owner', underGroup(g.id)) !== null || pasidsAttached(k, g)) return errno('EBUSY');
    }
    k.write(g, 'owner_cnt', cnt + 1, underGroup(g.id));
    return 0;
  },
  async unuseDefaultDomain(k, g) {
    const cnt = k.read(g, 'owner_cnt', underGroup(g.id));
    if (cnt === 0 || pasidsAttached(k, g)) {
      k.warn(`iommu_device_unuse_default_domain: WARN_ON(!group->owner_cnt || !xa_empty(&group->pasid_array)) for ${g.id}`);
      return;
    }
    k.write(g, 'owner_cnt', cnt - 1, underGroup(g.id));
  },
  async claimGroup(k, g, owner) {
    if (k.read(g, 'owner_cnt', underGroup(g.id)) > 0) return errno('EPERM');
    return takeDmaOwnership(k, g, owner);
  },
};

/**
 * Scans the members' dev->driver (vfio_group_viable / the RFC's
 * iommu_dev_viable): -EBUSY if one is bound to a kernel driver. The scan
 * holds only group->mutex, not the members' device_locks, so a bind can run
 * between the scan and the claim. `plain` reads are a plain load of a field
 * device_lock guards; otherwise a READ_ONCE.
 */
async function scanSiblings(k: IK, g: Group, plain: boolean): Promise<Ret> {
  for (const dev of k.read(g, 'devices', underGroup(g.id))) {
    const d = await k.call<DriverSnapshot>(DRIVER_CORE, 'dev_driver_snapshot', { dev, plain });
    if (d.driver !== null && !d.driver_managed_dma) return errno('EBUSY');
  }
  return 0;
}

async function claimByScan(k: IK, g: Group, owner: string, plain: boolean): Promise<Ret> {
  if (k.read(g, 'owner', underGroup(g.id)) !== null) return errno('EBUSY');
  const viable = await scanSiblings(k, g, plain);
  if (viable !== 0) return viable;
  return takeDmaOwnership(k, g, owner);
}

/**
 * Seed 000's RFC (iommu_device_init_user_dma): really_probe only records the
 * driver's DMA hint and never refuses; viability is an unlocked scan of the
 * siblings' dev->driver at claim time ("isn't locked properly or safe").
 */
const viableScanUnlocked: DmaOwnerImpl = {
  async useDefaultDomain(k, g, dev) {
    k.write(g, 'dma_hints', { ...k.read(g, 'dma_hints', underGroup(g.id)), [dev]: 'kernel' }, underGroup(g.id));
    return 0;
  },
  async unuseDefaultDomain(k, g, dev) {
    const { [dev]: _gone, ...rest } = k.read(g, 'dma_hints', underGroup(g.id));
    k.write(g, 'dma_hints', rest, underGroup(g.id));
  },
  claimGroup: (k, g, owner) => claimByScan(k, g, owner, true),
};

/**
 * Before 5.19: no owner_cnt at all; the claim scans with READ_ONCE, and a
 * later bind is caught only by the group notifier's BUG_ON
 * (probe.ts groupNotifyBoundDriver, docs/kernel-facts.md B20).
 */
const notifierBugOn: DmaOwnerImpl = {
  async useDefaultDomain() {
    return 0;
  },
  async unuseDefaultDomain() {},
  claimGroup: (k, g, owner) => claimByScan(k, g, owner, false),
};

export const DMA_OWNER: { readonly [V in VariantValue<'dma-owner'>]: DmaOwnerImpl } = {
  'owner-cnt': ownerCnt,
  'viable-scan-unlocked': viableScanUnlocked,
  'notifier-bug-on': notifierBugOn,
};
