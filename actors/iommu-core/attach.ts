import { errno, isErrno } from '../../protocol/errno.ts';
import type { Errno } from '../../protocol/errno.ts';
import { G, asObj, devIommuBit, deviceGroup, groupById, setDevIommuBit, underGroup } from './state.ts';
import type { Group, IK } from './state.ts';
import { groupFirstDev, opsCompatible, unitCall, useDomain } from './domains.ts';
import { kfunc } from '../../runtime/kfunc.ts';

/**
 * Attaching the RID translation (docs/kernel-facts.md §3.3;
 * drivers/iommu/iommu.c: __iommu_attach_device, __iommu_device_set_domain,
 * __iommu_group_set_domain_internal, iommu_attach_device, ...).
 */

export type Ret = 0 | Errno;

/** IOMMU_SET_DOMAIN_MUST_SUCCEED. */
export const MUST_SUCCEED = 1;

/**
 * __iommu_attach_device(): the driver's attach_dev; on success the device is
 * no longer attach_deferred. Callers hold group->mutex (7.0 made
 * iommu_deferred_attach comply; the `deferred-attach=unlocked` variant does
 * not), so the flag is written with group->mutex as its guard.
 */
export const attachDevice = kfunc('__iommu_attach_device', { actor: 'iommu-core', source: 'drivers/iommu/iommu.c: __iommu_attach_device' }, async function attachDevice(k: IK, domain: string, dev: string, old: string | null, group: string): Promise<Ret> {
  const d = useDomain(k, domain, '__iommu_attach_device');
  const di = k.state.devIommu[`${dev}.iommu`];
  if (d === null || di === undefined) return errno('ENODEV');
  const ret = await unitCall<Ret>(k, di.unit, 'attach_dev', { domain, type: d.type, dev, old });
  if (isErrno(ret)) return ret;
  if (devIommuBit(k, di, 'attach_deferred', G(group))) await setDevIommuBit(k, di, 'attach_deferred', false, G(group));
  k.write(di, 'hw_domain', domain, underGroup(group));
  return 0;
});

/**
 * __iommu_device_set_domain(): refuses a blocking domain for a
 * require_direct device (-EINVAL: what makes VFIO/iommufd ownership fail on
 * RMRR/RMR devices); skips the default domain while the device is
 * attach_deferred; on a failure with MUST_SUCCEED parks the device on the
 * blocking domain.
 */
export const deviceSetDomain = kfunc('__iommu_device_set_domain', { actor: 'iommu-core', source: 'drivers/iommu/iommu.c: __iommu_device_set_domain' }, async function deviceSetDomain(k: IK, g: Group, dev: string, next: string, old: string | null, flags: number): Promise<Ret> {
  const di = k.state.devIommu[`${dev}.iommu`];
  if (di === undefined) return errno('ENODEV');
  const guard = G(g.id);
  const d = k.state.domains[next];
  const blocking = k.read(g, 'blocking_domain', underGroup(g.id));
  if (devIommuBit(k, di, 'require_direct', guard) && (d?.type === 'blocked' || next === blocking)) {
    k.warn(`${dev}: Firmware has requested this device have a 1:1 IOMMU mapping, rejecting configuring the device without a 1:1 mapping. Contact your platform vendor.`);
    return errno('EINVAL');
  }
  if (devIommuBit(k, di, 'attach_deferred', guard)) {
    if (next === k.read(g, 'default_domain', underGroup(g.id))) return 0;
    await setDevIommuBit(k, di, 'attach_deferred', false, guard);
  }
  const ret = await attachDevice(k, next, dev, old, g.id);
  if (isErrno(ret) && (flags & MUST_SUCCEED) !== 0 && blocking !== null && blocking !== next) {
    // Keep the device from translating through a domain that may be freed.
    await attachDevice(k, blocking, dev, old, g.id);
  }
  return ret;
});

/**
 * __iommu_group_set_domain_internal(): moves every member to `next`. Not
 * atomic: members switch one by one. Without MUST_SUCCEED a failure reverts
 * the members already moved; with it the loop goes on and group->domain
 * still becomes `next`. 7.0.0 refuses any switch while a member resets,
 * even the nofail one.
 */
export const groupSetDomainInternal = kfunc('__iommu_group_set_domain_internal', { actor: 'iommu-core', source: 'drivers/iommu/iommu.c: __iommu_group_set_domain_internal' }, async function groupSetDomainInternal(k: IK, g: Group, next: string | null, flags: number): Promise<Ret> {
  await k.assertHeld(G(g.id));
  const cur = k.read(g, 'domain', underGroup(g.id));
  if (cur === next) return 0;
  if (next === null) {
    k.warn('__iommu_group_set_domain_internal: WARN_ON(!new_domain)');
    return errno('EINVAL');
  }
  if (k.read(g, 'resetting_domain', underGroup(g.id)) !== null) return errno('EBUSY');
  const devices = k.read(g, 'devices', underGroup(g.id));
  let result: Ret = 0;
  for (let i = 0; i < devices.length; i++) {
    const dev = devices[i]!;
    const ret = await deviceSetDomain(k, g, dev, next, cur, flags);
    if (!isErrno(ret)) continue;
    result = ret;
    if ((flags & MUST_SUCCEED) !== 0) continue;
    // err_revert: put the members already moved back on the old domain
    for (let j = 0; j < i; j++) {
      if (cur !== null) await deviceSetDomain(k, g, devices[j]!, cur, next, MUST_SUCCEED);
    }
    return ret;
  }
  k.write(g, 'domain', next, underGroup(g.id));
  return result;
});

export const groupSetDomain = (k: IK, g: Group, next: string | null): Promise<Ret> => groupSetDomainInternal(k, g, next, 0);

/** __iommu_group_set_domain_nofail(): MUST_SUCCEED, and a failure is a WARN. */
export const groupSetDomainNofail = kfunc('__iommu_group_set_domain_nofail', { actor: 'iommu-core', source: 'drivers/iommu/iommu.c: __iommu_group_set_domain_nofail' }, async function groupSetDomainNofail(k: IK, g: Group, next: string | null): Promise<void> {
  const ret = await groupSetDomainInternal(k, g, next, MUST_SUCCEED);
  if (isErrno(ret)) k.warn(`__iommu_group_set_domain_nofail: WARN_ON(${ret.errno})`);
});

/** __iommu_group_set_core_domain(): the blocking domain while a user owns the group, else the default domain. */
export const groupSetCoreDomain = kfunc('__iommu_group_set_core_domain', { actor: 'iommu-core', source: 'drivers/iommu/iommu.c: __iommu_group_set_core_domain' }, async function groupSetCoreDomain(k: IK, g: Group): Promise<void> {
  const owner = k.read(g, 'owner', underGroup(g.id));
  const next = owner !== null ? k.read(g, 'blocking_domain', underGroup(g.id)) : k.read(g, 'default_domain', underGroup(g.id));
  await groupSetDomainNofail(k, g, next);
});

/**
 * __iommu_attach_group(): only from the default or blocking domain (-EBUSY
 * while a driver's or user's domain is attached); the domain must come from
 * the group's driver (-EINVAL).
 */
export const attachGroup = kfunc('__iommu_attach_group', { actor: 'iommu-core', source: 'drivers/iommu/iommu.c: __iommu_attach_group' }, async function attachGroup(k: IK, domain: string, g: Group): Promise<Ret> {
  const cur = k.read(g, 'domain', underGroup(g.id));
  if (cur !== null && cur !== k.read(g, 'default_domain', underGroup(g.id)) && cur !== k.read(g, 'blocking_domain', underGroup(g.id))) {
    return errno('EBUSY');
  }
  const dev = await groupFirstDev(k, g);
  const di = dev === null ? undefined : k.state.devIommu[`${dev}.iommu`];
  const d = useDomain(k, domain, '__iommu_attach_group');
  if (di === undefined || d === null || !opsCompatible(di.unit, d)) return errno('EINVAL');
  return groupSetDomain(k, g, domain);
});

/** The group of `dev` read as the kernel does (dev->iommu_group, no lock), or null. */
export const groupOfDevice = kfunc('iommu_group_get_for_dev', { actor: 'iommu-core', source: 'drivers/iommu/iommu.c: iommu_group_get_for_dev' }, function groupOfDevice(k: IK, dev: string): Group | null {
  const id = deviceGroup(k, dev);
  return id === null ? null : groupById(k, id);
});

/** Runs `fn` under group->mutex. */
export async function withGroupMutex<R>(k: IK, g: Group, fn: () => Promise<R>): Promise<R> {
  await k.lock(G(g.id));
  try {
    return await fn();
  } finally {
    await k.unlock(G(g.id));
  }
}

// ---- the exported API -------------------------------------------------------------

/** iommu_attach_device(): singleton groups only (seed 002's interface 1); never consults owner/owner_cnt/pasid_array. */
export const iommu_attach_device = kfunc('iommu_attach_device', { actor: 'iommu-core', source: 'drivers/iommu/iommu.c: iommu_attach_device' }, async function iommu_attach_device(k: IK, { domain, dev }: { domain: string; dev: string }): Promise<Ret> {
  const g = groupOfDevice(k, dev);
  if (g === null) return errno('ENODEV');
  return withGroupMutex(k, g, async () => {
    if (k.read(g, 'devices', underGroup(g.id)).length !== 1) return errno('EINVAL');
    return attachGroup(k, domain, g);
  });
});

/** iommu_detach_device(): WARN-and-ignore unless `domain` is attached to a singleton group; then the core domain. */
export const iommu_detach_device = kfunc('iommu_detach_device', { actor: 'iommu-core', source: 'drivers/iommu/iommu.c: iommu_detach_device' }, async function iommu_detach_device(k: IK, { domain, dev }: { domain: string; dev: string }): Promise<Ret> {
  const g = groupOfDevice(k, dev);
  if (g === null) return 0;
  return withGroupMutex(k, g, async (): Promise<Ret> => {
    if (k.read(g, 'domain', underGroup(g.id)) !== domain) {
      k.warn('iommu_detach_device: WARN_ON(domain != group->domain)');
      return 0;
    }
    if (k.read(g, 'devices', underGroup(g.id)).length !== 1) {
      k.warn('iommu_detach_device: WARN_ON(list_count_nodes(&group->devices) != 1)');
      return 0;
    }
    await groupSetCoreDomain(k, g);
    return 0;
  });
});

export const iommu_attach_group = kfunc('iommu_attach_group', { actor: 'iommu-core', source: 'drivers/iommu/iommu.c: iommu_attach_group' }, async function iommu_attach_group(k: IK, { domain, group }: { domain: string; group: string }): Promise<Ret> {
  k.use(asObj(group), 'iommu_attach_group');
  const g = groupById(k, group);
  if (g === null) return errno('ENODEV');
  return withGroupMutex(k, g, () => attachGroup(k, domain, g));
});

/** iommu_detach_group(): ignores its domain argument and restores the core domain. */
export const iommu_detach_group = kfunc('iommu_detach_group', { actor: 'iommu-core', source: 'drivers/iommu/iommu.c: iommu_detach_group' }, async function iommu_detach_group(k: IK, { group }: { domain: string; group: string }): Promise<Ret> {
  k.use(asObj(group), 'iommu_detach_group');
  const g = groupById(k, group);
  if (g === null) return 0;
  await withGroupMutex(k, g, () => groupSetCoreDomain(k, g));
  return 0;
});

/** iommu_get_domain_for_dev(): no lock, and asserts the caller does not hold group->mutex (drivers must use the _driver_ variant). */
export const iommu_get_domain_for_dev = kfunc('iommu_get_domain_for_dev', { actor: 'iommu-core', source: 'drivers/iommu/iommu.c: iommu_get_domain_for_dev' }, async function iommu_get_domain_for_dev(k: IK, { dev }: { dev: string }): Promise<string | null> {
  const g = groupOfDevice(k, dev);
  if (g === null) return null;
  await k.assertNotHeld(G(g.id));
  return k.read(g, 'domain', { lockless: true });
});
