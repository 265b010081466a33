import { errno, isErrno } from '../../protocol/errno.ts';
import { asObj, groupById, underGroup } from './state.ts';
import { iommu_group_put } from './probe.ts';
import type { Group, IK } from './state.ts';
import { allocBlockingDomain } from './domains.ts';
import { groupOfDevice, groupSetDomain, groupSetDomainNofail, withGroupMutex } from './attach.ts';
import type { Ret } from './attach.ts';
import { DMA_OWNER } from './variants/dma-owner.ts';
import { kfunc } from '../../runtime/kfunc.ts';

/**
 * Kernel-DMA users and DMA ownership (docs/kernel-facts.md §3.4;
 * drivers/iommu/iommu.c: iommu_device_use_default_domain,
 * iommu_group_claim_dma_owner, __iommu_take_dma_ownership,
 * iommu_device_claim_dma_owner, ...). The `dma-owner` variant swaps the
 * really_probe side and the group claim (variants/dma-owner.ts).
 */

export const pasidsAttached = (k: IK, g: Group): boolean => Object.keys(k.read(g, 'pasid_array', underGroup(g.id))).length > 0;

/** iommu_device_use_default_domain(): from the bus dma_configure in really_probe. */
export const iommu_device_use_default_domain = kfunc('iommu_device_use_default_domain', { actor: 'iommu-core', source: 'drivers/iommu/iommu.c: iommu_device_use_default_domain' }, async function iommu_device_use_default_domain(k: IK, { dev }: { dev: string }): Promise<Ret> {
  const g = groupOfDevice(k, dev);
  if (g === null) return 0;
  k.get(g.id);
  try {
    return await withGroupMutex(k, g, () => DMA_OWNER[k.state.variants['dma-owner']].useDefaultDomain(k, g, dev));
  } finally {
    await iommu_group_put(k, { group: g.id });
  }
});

/** iommu_device_unuse_default_domain(): from dma_cleanup and the really_probe unwind. */
export const iommu_device_unuse_default_domain = kfunc('iommu_device_unuse_default_domain', { actor: 'iommu-core', source: 'drivers/iommu/iommu.c: iommu_device_unuse_default_domain' }, async function iommu_device_unuse_default_domain(k: IK, { dev }: { dev: string }): Promise<Ret> {
  const g = groupOfDevice(k, dev);
  if (g === null) return 0;
  await withGroupMutex(k, g, () => DMA_OWNER[k.state.variants['dma-owner']].unuseDefaultDomain(k, g, dev));
  return 0;
});

/**
 * __iommu_take_dma_ownership(): only from the default domain and with no
 * PASID attached (-EBUSY); the whole group moves to the blocking domain
 * (-EINVAL for a require_direct member, -EBUSY during a reset).
 */
export const takeDmaOwnership = kfunc('__iommu_take_dma_ownership', { actor: 'iommu-core', source: 'drivers/iommu/iommu.c: __iommu_take_dma_ownership' }, async function takeDmaOwnership(k: IK, g: Group, owner: string): Promise<Ret> {
  const dom = k.read(g, 'domain', underGroup(g.id));
  if ((dom !== null && dom !== k.read(g, 'default_domain', underGroup(g.id))) || pasidsAttached(k, g)) return errno('EBUSY');
  const alloc = await allocBlockingDomain(k, g);
  if (isErrno(alloc)) return alloc;
  const ret = await groupSetDomain(k, g, k.read(g, 'blocking_domain', underGroup(g.id)));
  if (isErrno(ret)) return ret;
  k.write(g, 'owner', owner, underGroup(g.id));
  k.write(g, 'owner_cnt', k.read(g, 'owner_cnt', underGroup(g.id)) + 1, underGroup(g.id));
  return 0;
});

/** __iommu_release_dma_ownership(): back to the default domain (nofail). */
export const releaseDmaOwnership = kfunc('__iommu_release_dma_ownership', { actor: 'iommu-core', source: 'drivers/iommu/iommu.c: __iommu_release_dma_ownership' }, async function releaseDmaOwnership(k: IK, g: Group): Promise<void> {
  k.write(g, 'owner_cnt', 0, underGroup(g.id));
  k.write(g, 'owner', null, underGroup(g.id));
  await groupSetDomainNofail(k, g, k.read(g, 'default_domain', underGroup(g.id)));
});

/** iommu_group_claim_dma_owner(): the VFIO group/container path. */
export const iommu_group_claim_dma_owner = kfunc('iommu_group_claim_dma_owner', { actor: 'iommu-core', source: 'drivers/iommu/iommu.c: iommu_group_claim_dma_owner' }, async function iommu_group_claim_dma_owner(k: IK, { group, owner }: { group: string; owner: string }): Promise<Ret> {
  if (owner === '') {
    k.warn('iommu_group_claim_dma_owner: WARN_ON(!owner)');
    return errno('EINVAL');
  }
  const g = useGroup(k, group, 'iommu_group_claim_dma_owner');
  if (g === null) return errno('ENODEV');
  return withGroupMutex(k, g, () => DMA_OWNER[k.state.variants['dma-owner']].claimGroup(k, g, owner));
});

/** iommu_group_release_dma_owner(): WARN-and-return if not owned or PASIDs are attached. */
export const iommu_group_release_dma_owner = kfunc('iommu_group_release_dma_owner', { actor: 'iommu-core', source: 'drivers/iommu/iommu.c: iommu_group_release_dma_owner' }, async function iommu_group_release_dma_owner(k: IK, { group }: { group: string }): Promise<Ret> {
  const g = useGroup(k, group, 'iommu_group_release_dma_owner');
  if (g === null) return 0;
  await withGroupMutex(k, g, async () => {
    if (k.read(g, 'owner_cnt', underGroup(g.id)) === 0 || k.read(g, 'owner', underGroup(g.id)) === null || pasidsAttached(k, g)) {
      k.warn(`iommu_group_release_dma_owner: WARN_ON(!group->owner_cnt || !group->owner || !xa_empty(&group->pasid_array)) for ${g.id}`);
      return;
    }
    await releaseDmaOwnership(k, g);
  });
  return 0;
});

/** iommu_group_dma_owner_claimed(): the answer is stale as soon as the mutex drops. */
export const iommu_group_dma_owner_claimed = kfunc('iommu_group_dma_owner_claimed', { actor: 'iommu-core', source: 'drivers/iommu/iommu.c: iommu_group_dma_owner_claimed' }, async function iommu_group_dma_owner_claimed(k: IK, { group }: { group: string }): Promise<boolean> {
  const g = useGroup(k, group, 'iommu_group_dma_owner_claimed');
  if (g === null) return false;
  return withGroupMutex(k, g, async () => k.read(g, 'owner_cnt', underGroup(g.id)) > 0);
});

/**
 * iommu_device_claim_dma_owner(): iommufd's per-device claim. The same
 * owner shares the claim (owner_cnt++); anyone else, including the kernel
 * DMA state (owner NULL with bound drivers), gets -EPERM.
 */
export const iommu_device_claim_dma_owner = kfunc('iommu_device_claim_dma_owner', { actor: 'iommu-core', source: 'drivers/iommu/iommu.c: iommu_device_claim_dma_owner' }, async function iommu_device_claim_dma_owner(k: IK, { dev, owner }: { dev: string; owner: string }): Promise<Ret> {
  if (owner === '') return errno('EINVAL');
  const g = groupOfDevice(k, dev);
  if (g === null) return errno('ENODEV');
  return withGroupMutex(k, g, async () => {
    if (k.read(g, 'owner_cnt', underGroup(g.id)) > 0) {
      if (k.read(g, 'owner', underGroup(g.id)) !== owner) return errno('EPERM');
      k.write(g, 'owner_cnt', k.read(g, 'owner_cnt', underGroup(g.id)) + 1, underGroup(g.id));
      return 0;
    }
    return takeDmaOwnership(k, g, owner);
  });
});

/** iommu_device_release_dma_owner(): the last sharer releases the group. */
export const iommu_device_release_dma_owner = kfunc('iommu_device_release_dma_owner', { actor: 'iommu-core', source: 'drivers/iommu/iommu.c: iommu_device_release_dma_owner' }, async function iommu_device_release_dma_owner(k: IK, { dev }: { dev: string }): Promise<Ret> {
  const g = groupOfDevice(k, dev);
  if (g === null) return 0;
  await withGroupMutex(k, g, async () => {
    const cnt = k.read(g, 'owner_cnt', underGroup(g.id));
    if (cnt === 0 || k.read(g, 'owner', underGroup(g.id)) === null) {
      k.warn(`iommu_device_release_dma_owner: WARN_ON(!group->owner_cnt || !group->owner) for ${g.id}`);
      return;
    }
    if (cnt > 1) k.write(g, 'owner_cnt', cnt - 1, underGroup(g.id));
    else if (pasidsAttached(k, g)) {
      // __iommu_release_dma_ownership(): WARN and return, as the group variant does: the group stays owned
      k.warn(`__iommu_release_dma_ownership: WARN_ON(!xa_empty(&group->pasid_array)) for ${g.id}`);
    } else await releaseDmaOwnership(k, g);
  });
  return 0;
});

/** A group handed in by id: a dereference of the pointer (a freed group is a use-after-free). */
export function useGroup(k: IK, group: string, what: string): Group | null {
  k.use(asObj(group), what);
  return groupById(k, group);
}

