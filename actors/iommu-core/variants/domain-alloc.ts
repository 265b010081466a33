import { isErrno } from '../../../protocol/errno.ts';
import { deviceLock } from '../../../protocol/lock-classes.ts';
import { DRIVER_CORE, IOMMU_CORE } from '../../../protocol/kernel.ts';
import type { VariantValue } from '../../../protocol/variants.ts';
import { G, asObj, groupById, underGroup } from '../state.ts';
import type { IK } from '../state.ts';
import { allocDomain, groupFirstDev } from '../domains.ts';
import { iommu_group_get, iommu_group_put } from '../probe.ts';
import { kfunc } from '../../../runtime/kfunc.ts';

/**
 * Variant `domain-alloc` (seed 004): iommu_domain_alloc(bus) after the
 * switch to device ops. All three walk the bus with bus_for_each_dev(), whose
 * callback (__iommu_domain_alloc_dev) runs with only a temporary reference to
 * the device; they differ in what leaves the walk. Returns a domain id or
 * null (the bus API returned NULL on failure).
 */
export type DomainAllocImpl = (k: IK, bus: 'pci' | 'platform') => Promise<string | null>;

type Found = string | 0;
const walk = (k: IK, bus: 'pci' | 'platform', want: 'ops' | 'dev' | 'group'): Promise<Found> =>
  k.call<Found>(DRIVER_CORE, 'bus_for_each_dev', { bus, fn: { to: IOMMU_CORE, op: '__iommu_domain_alloc_dev', body: { want } } });

/** What landed: only the ops pointer (module lifetime) leaves the walk; allocation with dev == NULL. */
const opsOnly: DomainAllocImpl = async (k, bus) => {
  const unit = await walk(k, bus, 'ops');
  if (unit === 0) return null;
  const d = await allocDomain(k, unit, 'paging', null);
  return isErrno(d) ? null : d;
};

/**
 * v4 of the patch: the walk hands the device pointer out and the allocation
 * dereferences it after the iterator dropped its reference ("Definately
 * can't pass dev outside the bus_for_each_dev() like this").
 */
const v4EscapingDev: DomainAllocImpl = async (k, bus) => {
  const dev = await walk(k, bus, 'dev');
  if (dev === 0) return null;
  // __iommu_domain_alloc(dev, ...): dev_iommu_ops(dev) dereferences dev->iommu
  k.use(asObj(dev), '__iommu_domain_alloc: dev_iommu_ops(dev)');
  const link = k.state.devices[dev];
  const diId = link === undefined ? null : k.read(link, 'iommu', { lockless: true });
  const di = diId === null ? undefined : k.state.devIommu[diId];
  if (di === undefined) return null;
  const d = await allocDomain(k, di.unit, 'paging', dev);
  return isErrno(d) ? null : d;
};

/**
 * The reviewer's structure: in the walk, take the device's device_lock, a
 * group reference, drop device_lock; then group->mutex, check the group
 * still has members, allocate for its first device. A driver calling this
 * from its own probe already holds its device_lock (the author's objection).
 * Variant `group-domain-alloc` decides whether group->mutex is really taken
 * around the first-device helper, which asserts it.
 */
const reviewerLocked: DomainAllocImpl = async (k, bus) => {
  const group = await walk(k, bus, 'group');
  if (group === 0) return null;
  const g = groupById(k, group);
  if (g === null) return null;
  const locked = k.state.variants['group-domain-alloc'] === 'locked';
  if (locked) await k.lock(G(g.id));
  let domain: string | null = null;
  try {
    if (k.read(g, 'devices', underGroup(g.id)).length > 0) {
      const first = await groupFirstDev(k, g);
      const di = first === null ? undefined : k.state.devIommu[`${first}.iommu`];
      if (di !== undefined) {
        const d = await allocDomain(k, di.unit, 'paging', first);
        domain = isErrno(d) ? null : d;
      }
    }
  } finally {
    if (locked) await k.unlock(G(g.id));
  }
  await iommu_group_put(k, { group: g.id });
  return domain;
};

export const DOMAIN_ALLOC: { readonly [V in VariantValue<'domain-alloc'>]: DomainAllocImpl } = {
  'ops-only': opsOnly,
  'v4-escaping-dev': v4EscapingDev,
  'reviewer-locked': reviewerLocked,
};

/**
 * __iommu_domain_alloc_dev(): the walk's callback; returns 0 to go on. It
 * runs while the iterator holds a reference, so using `dev` here is safe.
 */
export const iommu_domain_alloc_dev = kfunc('__iommu_domain_alloc_dev', { actor: 'iommu-core', source: 'drivers/iommu/iommu.c: __iommu_domain_alloc_dev' }, async function iommu_domain_alloc_dev(k: IK, { dev, want }: { dev: string; want: 'ops' | 'dev' | 'group' }): Promise<Found> {
  k.use(asObj(dev), '__iommu_domain_alloc_dev');
  const link = k.state.devices[dev];
  const diId = link === undefined ? null : k.read(link, 'iommu', { lockless: true });
  const di = diId === null ? undefined : k.state.devIommu[diId];
  if (di === undefined) return 0;
  switch (want) {
    case 'ops': return di.unit;
    case 'dev': return dev;
    case 'group': {
      // device_lock keeps device_del() (kill_device, then the IOMMU release) out while the group is taken
      await k.lock(deviceLock(dev));
      const dead = await k.call<boolean>(DRIVER_CORE, 'device_is_dead', { dev });
      const group = dead ? null : iommu_group_get(k, { dev });
      await k.unlock(deviceLock(dev));
      return group ?? 0;
    }
  }
});
