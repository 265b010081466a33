import { errno, isErrno } from '../../protocol/errno.ts';
import { G, devIommuOf, underGroup } from './state.ts';
import type { Group, IK } from './state.ts';
import { opsCompatible, supportsSetDevPasid, unitCall, useDomain } from './domains.ts';
import { groupOfDevice, withGroupMutex } from './attach.ts';
import type { Ret } from './attach.ts';
import { kfunc } from '../../runtime/kfunc.ts';

/**
 * PASID attachment (docs/kernel-facts.md §3.5; drivers/iommu/iommu.c:
 * iommu_attach_device_pasid, iommu_replace_device_pasid,
 * iommu_detach_device_pasid, __iommu_set_group_pasid,
 * __iommu_remove_group_pasid).
 */

const IOMMU_NO_PASID = 0;

/** The members that take part in PASID operations: those with max_pasids > 0. */
function pasidMembers(k: IK, g: Group): string[] {
  return k.read(g, 'devices', underGroup(g.id)).filter((dev) => (k.state.devIommu[`${dev}.iommu`]?.max_pasids ?? 0) > 0);
}

/** iommu_remove_dev_pasid(): the blocked domain's set_dev_pasid — the PASID stops translating. */
export const removeDevPasid = kfunc('iommu_remove_dev_pasid', { actor: 'iommu-core', source: 'drivers/iommu/iommu.c: iommu_remove_dev_pasid' }, async function removeDevPasid(k: IK, dev: string, pasid: number, domain: string): Promise<void> {
  const di = k.state.devIommu[`${dev}.iommu`];
  if (di === undefined) return;
  const ret = await unitCall<Ret>(k, di.unit, 'remove_dev_pasid', { dev, pasid, domain });
  if (isErrno(ret)) k.warn(`iommu_remove_dev_pasid: WARN_ON(${ret.errno}) for ${dev} pasid ${pasid}`);
});

/**
 * __iommu_set_group_pasid(): set_dev_pasid on every PASID-capable member;
 * on a failure the members already done go back to `old` (or lose the
 * PASID when there was none).
 */
export const setGroupPasid = kfunc('__iommu_set_group_pasid', { actor: 'iommu-core', source: 'drivers/iommu/iommu.c: __iommu_set_group_pasid' }, async function setGroupPasid(k: IK, domain: string, g: Group, pasid: number, old: string | null): Promise<Ret> {
  const d = k.state.domains[domain];
  if (d === undefined) return errno('EINVAL');
  const members = pasidMembers(k, g);
  for (let i = 0; i < members.length; i++) {
    const dev = members[i]!;
    const ret = await unitCall<Ret>(k, d.unit, 'set_dev_pasid', { domain, type: d.type, dev, pasid, old });
    if (!isErrno(ret)) continue;
    for (let j = 0; j < i; j++) {
      const back = members[j]!;
      const od = old === null ? undefined : k.state.domains[old];
      if (od !== undefined) await unitCall(k, od.unit, 'set_dev_pasid', { domain: old, type: od.type, dev: back, pasid, old: domain });
      else await removeDevPasid(k, back, pasid, domain);
    }
    return ret;
  }
  return 0;
});

/** __iommu_remove_group_pasid(). */
const removeGroupPasid = kfunc('__iommu_remove_group_pasid', { actor: 'iommu-core', source: 'drivers/iommu/iommu.c: __iommu_remove_group_pasid' }, async function removeGroupPasid(k: IK, g: Group, pasid: number, domain: string): Promise<void> {
  for (const dev of pasidMembers(k, g)) await removeDevPasid(k, dev, pasid, domain);
});

/** Preconditions shared by attach and replace, before group->mutex. */
function checkPasidDomain(k: IK, domain: string, dev: string, pasid: number): Ret {
  const d = useDomain(k, domain, 'iommu_attach_device_pasid');
  const di = devIommuOf(k, dev);
  if (d === null || di === null) return errno('EINVAL');
  // the domain and the driver's static blocked domain need set_dev_pasid
  if (!supportsSetDevPasid(k, d)) return errno('EOPNOTSUPP');
  if (!opsCompatible(di.unit, d) || pasid === IOMMU_NO_PASID) return errno('EINVAL');
  return 0;
}

/** Every PASID-capable member must be able to use `pasid`. */
function pasidFits(k: IK, g: Group, pasid: number): boolean {
  return pasidMembers(k, g).every((dev) => pasid < (k.state.devIommu[`${dev}.iommu`]?.max_pasids ?? 0));
}

/** iommu_attach_device_pasid(): never overwrites an attached PASID (-EBUSY; use replace). */
export const iommu_attach_device_pasid = kfunc('iommu_attach_device_pasid', { actor: 'iommu-core', source: 'drivers/iommu/iommu.c: iommu_attach_device_pasid' }, async function iommu_attach_device_pasid(k: IK, { domain, dev, pasid, handle }: { domain: string; dev: string; pasid: number; handle?: string }): Promise<Ret> {
  const g = groupOfDevice(k, dev);
  if (g === null) return errno('ENODEV');
  const pre = checkPasidDomain(k, domain, dev, pasid);
  if (pre !== 0) return pre;
  return withGroupMutex(k, g, () => attachPasidLocked(k, g, domain, pasid, handle ?? null));
});

/** Publishes pasid_array[pasid] = the entry (domain, tagged with `handle` when there is one). */
const storePasidEntry = kfunc('store_pasid_entry', { actor: 'iommu-core', source: 'drivers/iommu/iommu.c: store_pasid_entry' }, function storePasidEntry(k: IK, g: Group, pasid: number, domain: string, handle: string | null): void {
  const key = String(pasid);
  k.write(g, 'pasid_array', { ...k.read(g, 'pasid_array', underGroup(g.id)), [key]: domain }, underGroup(g.id));
  const { [key]: _old, ...handles } = k.read(g, 'pasid_handles', underGroup(g.id));
  k.write(g, 'pasid_handles', handle === null ? handles : { ...handles, [key]: handle }, underGroup(g.id));
});

/** The body of iommu_attach_device_pasid() under group->mutex (SVA bind calls it too). */
export const attachPasidLocked = kfunc('iommu_attach_device_pasid_locked', { actor: 'iommu-core', source: 'drivers/iommu/iommu.c: iommu_attach_device_pasid_locked' }, async function attachPasidLocked(k: IK, g: Group, domain: string, pasid: number, handle: string | null = null): Promise<Ret> {
  await k.assertHeld(G(g.id));
  if (k.read(g, 'resetting_domain', underGroup(g.id)) !== null) return errno('EBUSY');
  if (!pasidFits(k, g, pasid)) return errno('EINVAL');
  const arr = k.read(g, 'pasid_array', underGroup(g.id));
  if (arr[String(pasid)] !== undefined) return errno('EBUSY');
  const ret = await setGroupPasid(k, domain, g, pasid, null);
  if (isErrno(ret)) return ret;
  // published only after the hardware succeeded (XA_ZERO_ENTRY reservation before)
  storePasidEntry(k, g, pasid, domain, handle);
  return 0;
});

/**
 * iommu_replace_device_pasid() (drivers/iommu/iommu.c, 7.0): the entry is
 * the handle, not the domain. xa_cmpxchg() finds no entry ⇒ -EINVAL; the
 * same handle object reused ⇒ WARN_ON and -EINVAL ("reusing handle is
 * problematic as there are paths that refers the handle without lock");
 * the same domain under a new handle skips __iommu_set_group_pasid() and
 * only republishes the entry (returns 0). No max_pasids check: the PASID was
 * validated when it was attached. On a set_dev_pasid failure the old entry
 * stays. iommufd allocates a fresh handle per replace, so an omitted
 * `handle` is a new one.
 */
export const iommu_replace_device_pasid = kfunc('iommu_replace_device_pasid', { actor: 'iommu-core', source: 'drivers/iommu/iommu.c: iommu_replace_device_pasid' }, async function iommu_replace_device_pasid(k: IK, { domain, dev, pasid, handle }: { domain: string; dev: string; pasid: number; handle?: string }): Promise<Ret> {
  const g = groupOfDevice(k, dev);
  if (g === null) return errno('ENODEV');
  const pre = checkPasidDomain(k, domain, dev, pasid);
  if (pre !== 0) return pre;
  return withGroupMutex(k, g, async () => {
    if (k.read(g, 'resetting_domain', underGroup(g.id)) !== null) return errno('EBUSY');
    const key = String(pasid);
    const cur = k.read(g, 'pasid_array', underGroup(g.id))[key];
    if (cur === undefined) return errno('EINVAL');
    const curHandle = k.read(g, 'pasid_handles', underGroup(g.id))[key] ?? null;
    let entryHandle = handle ?? null;
    if (entryHandle === null) {
      const seq = k.read(g, 'handle_seq', underGroup(g.id)) + 1;
      k.write(g, 'handle_seq', seq, underGroup(g.id));
      entryHandle = `${g.id}.handle.${seq}`;
    }
    // iommu_make_pasid_array_entry() tags the handle itself: the same handle is the same entry whatever the domain
    if (curHandle !== null && curHandle === entryHandle) {
      k.warn('iommu_replace_device_pasid: WARN_ON(curr == entry)');
      return errno('EINVAL');
    }
    if (cur !== domain) {
      const ret = await setGroupPasid(k, domain, g, pasid, cur);
      if (isErrno(ret)) return ret;
    }
    storePasidEntry(k, g, pasid, domain, entryHandle);
    return 0;
  });
});

/** iommu_detach_device_pasid(): no return value; 7.0 does not check the entry matched `domain`. */
export const iommu_detach_device_pasid = kfunc('iommu_detach_device_pasid', { actor: 'iommu-core', source: 'drivers/iommu/iommu.c: iommu_detach_device_pasid' }, async function iommu_detach_device_pasid(k: IK, { domain, dev, pasid }: { domain: string; dev: string; pasid: number }): Promise<Ret> {
  const g = groupOfDevice(k, dev);
  if (g === null) return 0;
  await withGroupMutex(k, g, () => detachPasidLocked(k, g, domain, pasid));
  return 0;
});

export const detachPasidLocked = kfunc('iommu_detach_device_pasid_locked', { actor: 'iommu-core', source: 'drivers/iommu/iommu.c: iommu_detach_device_pasid_locked' }, async function detachPasidLocked(k: IK, g: Group, domain: string, pasid: number): Promise<void> {
  await removeGroupPasid(k, g, pasid, domain);
  const { [String(pasid)]: _gone, ...rest } = k.read(g, 'pasid_array', underGroup(g.id));
  k.write(g, 'pasid_array', rest, underGroup(g.id));
  const { [String(pasid)]: _h, ...handles } = k.read(g, 'pasid_handles', underGroup(g.id));
  k.write(g, 'pasid_handles', handles, underGroup(g.id));
});
