import { errno, isErrno } from '../../protocol/errno.ts';
import { actorId } from '../../protocol/ids.ts';
import type { Call } from '../../protocol/kernel.ts';
import { G, underGroup } from './state.ts';
import type { Group, IK } from './state.ts';
import { attachGroup, groupSetCoreDomain, groupSetDomain, withGroupMutex } from './attach.ts';
import type { Ret } from './attach.ts';
import { useGroup } from './owner.ts';
import { useDomain } from './domains.ts';
import { kfunc } from '../../runtime/kfunc.ts';

/**
 * The RID attach-handle API iommufd uses (drivers/iommu/iommu.c:
 * iommu_attach_group_handle, iommu_detach_group_handle,
 * iommu_replace_group_handle; docs/kernel-facts.md §3.3 "Handle variants"),
 * and iommu_group_for_each_dev(). The handle lives in
 * pasid_array[IOMMU_NO_PASID]; the model stores the domain there, as it
 * does for PASID entries (state.ts Group.pasid_array).
 */

const IOMMU_NO_PASID = '0';

function setSlot(k: IK, g: Group, domain: string | null): void {
  const { [IOMMU_NO_PASID]: _old, ...rest } = k.read(g, 'pasid_array', underGroup(g.id));
  k.write(g, 'pasid_array', domain === null ? rest : { ...rest, [IOMMU_NO_PASID]: domain }, underGroup(g.id));
}

/**
 * iommu_attach_group_handle(): reserves the IOMMU_NO_PASID slot (xa_insert:
 * -EBUSY when taken), __iommu_attach_group() (only from the default or
 * blocking domain; -EBUSY during a reset), then publishes the handle.
 */
export const iommu_attach_group_handle = kfunc('iommu_attach_group_handle', { actor: 'iommu-core', source: 'drivers/iommu/iommu.c: iommu_attach_group_handle' }, async function iommu_attach_group_handle(k: IK, { domain, group }: { domain: string; group: string }): Promise<Ret> {
  const g = useGroup(k, group, 'iommu_attach_group_handle');
  if (g === null) return errno('ENODEV');
  return withGroupMutex(k, g, async () => {
    if (k.read(g, 'pasid_array', underGroup(g.id))[IOMMU_NO_PASID] !== undefined) return errno('EBUSY');
    const ret = await attachGroup(k, domain, g);
    if (isErrno(ret)) return ret; // xa_release()
    setSlot(k, g, domain);
    return 0;
  });
});

/** iommu_detach_group_handle(): back to the core domain (blocking while a user owns the group), then xa_erase(). */
export const iommu_detach_group_handle = kfunc('iommu_detach_group_handle', { actor: 'iommu-core', source: 'drivers/iommu/iommu.c: iommu_detach_group_handle' }, async function iommu_detach_group_handle(k: IK, { group }: { domain: string; group: string }): Promise<Ret> {
  const g = useGroup(k, group, 'iommu_detach_group_handle');
  if (g === null) return 0;
  await withGroupMutex(k, g, async () => {
    await groupSetCoreDomain(k, g);
    setSlot(k, g, null);
  });
  return 0;
});

/**
 * iommu_replace_group_handle(): -EINVAL without a domain; switches the group
 * straight to the new domain (hitless where the driver can), then stores the
 * handle; on failure the old attachment stays.
 */
export const iommu_replace_group_handle = kfunc('iommu_replace_group_handle', { actor: 'iommu-core', source: 'drivers/iommu/iommu.c: iommu_replace_group_handle' }, async function iommu_replace_group_handle(k: IK, { domain, group }: { domain: string; group: string }): Promise<Ret> {
  if (domain === '') return errno('EINVAL');
  const g = useGroup(k, group, 'iommu_replace_group_handle');
  if (g === null) return errno('ENODEV');
  if (useDomain(k, domain, 'iommu_replace_group_handle') === null) return errno('EINVAL');
  return withGroupMutex(k, g, async () => {
    const ret = await groupSetDomain(k, g, domain);
    if (isErrno(ret)) return ret;
    setSlot(k, g, domain);
    return 0;
  });
});

/**
 * iommu_group_for_each_dev(): calls `fn` for every member under
 * group->mutex (so the callee must not take it) and stops at the first
 * result that is not 0.
 */
export const iommu_group_for_each_dev = kfunc('iommu_group_for_each_dev', { actor: 'iommu-core', source: 'drivers/iommu/iommu.c: iommu_group_for_each_dev' }, async function iommu_group_for_each_dev(k: IK, { group, fn }: { group: string; fn: Call }): Promise<unknown> {
  const g = useGroup(k, group, 'iommu_group_for_each_dev');
  if (g === null) return 0;
  return withGroupMutex(k, g, async () => {
    await k.assertHeld(G(g.id));
    for (const dev of k.read(g, 'devices', underGroup(g.id))) {
      const body: object = typeof fn.body === 'object' && fn.body !== null ? fn.body : {};
      const r = await k.call(actorId(fn.to), fn.op, { ...body, dev });
      if (r !== 0 && r !== null && r !== undefined) return r;
    }
    return 0;
  });
});
