/**
 * The invariants this checker asserts (docs/kernel-facts.md §8.2 items 2–8,
 * plus the RMR rule of §2.2/§8.3). Each has a stable id: it is part of the
 * finding's signature and what `InvariantsOptions.skip` names.
 */

export const INVARIANT_IDS = [
  'empty-group',
  'user-owner-no-kernel-driver',
  'owner-cnt',
  'pasid-ownership',
  'reset-transition',
  'freed-domain',
  'require-direct-blocked',
] as const;

export type InvariantId = (typeof INVARIANT_IDS)[number];

export function isInvariantId(s: string): s is InvariantId {
  return (INVARIANT_IDS as readonly string[]).includes(s);
}

/**
 * When an invariant is judged:
 * - `group`: on the group's state, whenever group->mutex is free;
 * - `group+devices`: as `group`, and no member's device_lock is held either
 *   (really_probe sets dev->driver under device_lock before dma_configure
 *   bumps owner_cnt, so the pair is only consistent once both are dropped);
 * - `write`: at the write that performs the forbidden transition.
 */
export type InvariantWhen = 'group' | 'group+devices' | 'write';

export interface InvariantInfo {
  /** Where the rule is written down. */
  readonly ref: string;
  /** The rule, in one line. */
  readonly rule: string;
  /** The kernel code that keeps it (a WARN, an -EBUSY). */
  readonly kernel: string;
  readonly when: InvariantWhen;
}

export const INVARIANTS: Readonly<Record<InvariantId, InvariantInfo>> = {
  'empty-group': {
    ref: 'docs/kernel-facts.md §8.2 item 2',
    rule: 'a group with no devices has owner_cnt == 0 and domain == default_domain',
    kernel: 'drivers/iommu/iommu.c: __iommu_group_free_device() WARNs on owner_cnt',
    when: 'group',
  },
  'user-owner-no-kernel-driver': {
    ref: 'docs/kernel-facts.md §8.2 item 3',
    rule: 'owner != NULL => every bound member\'s driver has driver_managed_dma',
    kernel: 'drivers/iommu/iommu.c: iommu_group_claim_dma_owner() -EPERM when owner_cnt > 0; iommu_device_use_default_domain() -EBUSY when owned',
    when: 'group+devices',
  },
  'owner-cnt': {
    ref: 'docs/kernel-facts.md §8.2 item 4',
    rule: 'owner == NULL => owner_cnt == number of members bound to drivers without driver_managed_dma',
    kernel: 'drivers/iommu/iommu.c: iommu_device_use_default_domain() / iommu_device_unuse_default_domain() from dma_configure / dma_cleanup',
    when: 'group+devices',
  },
  'pasid-ownership': {
    ref: 'docs/kernel-facts.md §8.2 item 5',
    rule: 'no DMA ownership transition (owner changes) while pasid_array is non-empty',
    kernel: 'drivers/iommu/iommu.c: __iommu_take_dma_ownership() -EBUSY, __iommu_release_dma_ownership() WARN on attached PASIDs',
    when: 'write',
  },
  'reset-transition': {
    ref: 'docs/kernel-facts.md §8.2 item 6',
    rule: 'no RID domain switch and no PASID attach/replace while resetting_domain != NULL (teardown excepted)',
    kernel: 'drivers/iommu/iommu.c: __iommu_group_set_domain_internal(), iommu_attach_device_pasid(), iommu_replace_device_pasid() -EBUSY while resetting',
    when: 'write',
  },
  'freed-domain': {
    ref: 'docs/kernel-facts.md §8.2 items 7 and 8',
    rule: 'no group domain, default_domain, blocking_domain or pasid_array entry names a freed domain; an SVA domain is freed with users == 0',
    kernel: 'drivers/iommu/iommu.c: iommu_domain_free() after detach; iommu-sva.c: iommu_sva_unbind_device() frees at users == 0',
    when: 'group',
  },
  'require-direct-blocked': {
    ref: 'docs/kernel-facts.md §2.2 require_direct and §8.3; seed 003 RMR',
    rule: 'a device with require_direct (RMRR/IVMD/RMR) is never translated through a blocked domain',
    kernel: 'drivers/iommu/iommu.c: __iommu_device_set_domain() -EINVAL for require_direct; iommu_deinit_device() releases to identity',
    when: 'group',
  },
};
