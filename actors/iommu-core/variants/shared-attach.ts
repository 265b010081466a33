import { errno } from '../../../protocol/errno.ts';
import type { VariantValue } from '../../../protocol/variants.ts';
import { underGroup } from '../state.ts';
import type { Group, IK } from '../state.ts';
import { attachGroup, groupSetCoreDomain, groupSetDomain } from '../attach.ts';
import type { Ret } from '../attach.ts';

/**
 * Variant `shared-attach` (seed 002): iommu_attach_device_shared() /
 * iommu_detach_device_shared() for devices in multi-device groups (Tegra).
 * Each runs with group->mutex held. The series was never merged; these are
 * the three designs the thread weighed.
 */
export interface SharedAttachImpl {
  attach(k: IK, g: Group, domain: string): Promise<Ret>;
  detach(k: IK, g: Group, domain: string): Promise<Ret>;
}

/** What merged instead: iommu_attach_device() refuses multi-device groups (-EINVAL). */
const singletonOnly: SharedAttachImpl = {
  async attach(k, g, domain) {
    if (k.read(g, 'devices', underGroup(g.id)).length !== 1) return errno('EINVAL');
    return attachGroup(k, domain, g);
  },
  async detach(k, g, domain) {
    if (k.read(g, 'domain', underGroup(g.id)) !== domain || k.read(g, 'devices', underGroup(g.id)).length !== 1) {
      k.warn('iommu_detach_device: WARN_ON(domain != group->domain || !singleton)');
      return 0;
    }
    await groupSetCoreDomain(k, g);
    return 0;
  },
};

/**
 * v4 of the series: attaches are counted in owner_cnt. The first attach
 * installs the domain; presenting the same domain joins; a different one is
 * refused; a user owner (VFIO) excludes it. The drivers set
 * suppress_auto_claim_dma_owner (modelled as driver_managed_dma) so their
 * bind does not count.
 */
const sharedOwnerCnt: SharedAttachImpl = {
  async attach(k, g, domain) {
    if (k.read(g, 'owner', underGroup(g.id)) !== null) return errno('EPERM');
    const cnt = k.read(g, 'owner_cnt', underGroup(g.id));
    if (cnt > 0) {
      if (k.read(g, 'domain', underGroup(g.id)) !== domain) return errno('EBUSY');
      k.write(g, 'owner_cnt', cnt + 1, underGroup(g.id));
      return 0;
    }
    const ret = await attachGroup(k, domain, g);
    if (ret === 0) k.write(g, 'owner_cnt', 1, underGroup(g.id));
    return ret;
  },
  async detach(k, g, domain) {
    const cnt = k.read(g, 'owner_cnt', underGroup(g.id));
    if (cnt === 0 || k.read(g, 'domain', underGroup(g.id)) !== domain) {
      k.warn('iommu_detach_device_shared: WARN_ON(!group->owner_cnt || domain != group->domain)');
      return 0;
    }
    k.write(g, 'owner_cnt', cnt - 1, underGroup(g.id));
    if (cnt === 1) await groupSetCoreDomain(k, g);
    return 0;
  },
};

/** A shared attach that never consults owner/owner_cnt: it switches the group even when userspace owns it. */
const sharedIgnoresOwner: SharedAttachImpl = {
  attach: (k, g, domain) => groupSetDomain(k, g, domain),
  async detach(k, g) {
    await groupSetCoreDomain(k, g);
    return 0;
  },
};

export const SHARED_ATTACH: { readonly [V in VariantValue<'shared-attach'>]: SharedAttachImpl } = {
  'singleton-only': singletonOnly,
  'shared-owner-cnt': sharedOwnerCnt,
  'shared-ignores-owner': sharedIgnoresOwner,
};
