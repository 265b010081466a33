import { errno, isErrno } from '../../protocol/errno.ts';
import type { Errno } from '../../protocol/errno.ts';
import { kfunc } from '../../runtime/kfunc.ts';
import { underGroup } from './state.ts';
import type { IK } from './state.ts';
import { withGroupMutex } from './attach.ts';
import type { Ret } from './attach.ts';
import { useGroup } from './owner.ts';
import { setupDefaultDomain } from './probe.ts';

/**
 * /sys/kernel/iommu_groups/N/type (drivers/iommu/iommu.c:
 * iommu_group_store_type, after the 2023 rework): needs CAP_SYS_ADMIN and
 * CAP_SYS_RAWIO; under group->mutex only — instead of taking a member's
 * device_lock (the AB-BA of bug B19) it refuses while any driver is bound
 * or a user owns the group (owner_cnt != 0). DMA → DMA-FQ is an in-place
 * upgrade.
 */
export const iommu_group_store_type = kfunc('iommu_group_store_type', { actor: 'iommu-core', source: 'drivers/iommu/iommu.c: iommu_group_store_type' }, async function iommu_group_store_type(
  k: IK, { group, type, capable }: { group: string; type: 'DMA' | 'DMA-FQ' | 'identity'; capable?: boolean },
): Promise<Ret> {
  if (capable === false) return errno('EACCES');
  const g = useGroup(k, group, 'iommu_group_store_type');
  if (g === null) return errno('ENODEV');
  return withGroupMutex(k, g, async () => {
    const def = k.read(g, 'default_domain', underGroup(g.id));
    const d = def === null ? undefined : k.state.domains[def];
    if (type === 'DMA-FQ' && d !== undefined && d.type === 'dma') {
      k.write(d, 'type', 'dma-fq', underGroup(g.id));
      return 0;
    }
    if (k.read(g, 'devices', underGroup(g.id)).length === 0) return errno('EINVAL');
    if (k.read(g, 'owner_cnt', underGroup(g.id)) !== 0) return errno('EPERM');
    const want = type === 'identity' ? 'identity' : type === 'DMA' ? 'dma' : 'dma-fq';
    if (d !== undefined && d.type === want) return 0;
    const ret = await setupDefaultDomain(k, g, want);
    return isErrno(ret) ? ret : 0;
  });
});

const TYPE_STR: Readonly<Record<string, string>> = { blocked: 'blocked', identity: 'identity', paging: 'unmanaged', dma: 'DMA', 'dma-fq': 'DMA-FQ' };

/**
 * /sys/kernel/iommu_groups/N/type read (drivers/iommu/iommu.c:
 * iommu_group_show_type): the default domain's type under group->mutex;
 * "unknown" without one. -ENODEV for a group that is gone.
 */
export const iommu_group_show_type = kfunc('iommu_group_show_type', { actor: 'iommu-core', source: 'drivers/iommu/iommu.c: iommu_group_show_type' }, async function iommu_group_show_type(k: IK, { group }: { group: string }): Promise<string | Errno> {
  const g = useGroup(k, group, 'iommu_group_show_type');
  if (g === null) return errno('ENODEV');
  return withGroupMutex(k, g, () => {
    const def = k.read(g, 'default_domain', underGroup(g.id));
    const d = def === null ? undefined : k.state.domains[def];
    return Promise.resolve(`${d === undefined ? 'unknown' : TYPE_STR[d.type] ?? 'unknown'}\n`);
  });
});
