import { errno, isErrno } from '../../protocol/errno.ts';
import type { Errno } from '../../protocol/errno.ts';
import { iommuSvaLock } from '../../protocol/lock-classes.ts';
import { asObj, devIommuOf, underGroup } from './state.ts';
import type { IK, IommuMm, SvaHandle } from './state.ts';
import { allocDomain, freeDomain, supportsSetDevPasid } from './domains.ts';
import { groupOfDevice, withGroupMutex } from './attach.ts';
import type { Ret } from './attach.ts';
import { attachPasidLocked, detachPasidLocked } from './pasid.ts';
import { kfunc } from '../../runtime/kfunc.ts';

/**
 * Shared Virtual Addressing (docs/kernel-facts.md §3.5;
 * drivers/iommu/iommu-sva.c: iommu_sva_bind_device, iommu_sva_unbind_device,
 * iommu_alloc_mm_data). iommu_sva_lock → group->mutex (§1.2 edge 12).
 * Binding neither claims DMA ownership nor looks at the owner: it coexists
 * with the kernel driver's default domain on the RID.
 */

const sva = { guard: iommuSvaLock() };

/** iommu_alloc_mm_data(): the mm's global PASID, allocated once and kept until the mm goes. */
const allocMmData = kfunc('iommu_alloc_mm_data', { actor: 'iommu-core', source: 'drivers/iommu/iommu-sva.c: iommu_alloc_mm_data' }, function allocMmData(k: IK, mm: string, maxPasids: number): IommuMm | Errno {
  const have = k.state.mms[mm];
  if (have !== undefined) {
    if (k.read(have, 'pasid', sva) >= maxPasids) return errno('EOVERFLOW');
    return have;
  }
  // iommu_alloc_global_pasid(): IOMMU_PASID_INVALID for a device without PASIDs or an exhausted IDA
  const pasid = k.state.nextPasid;
  if (maxPasids === 0 || pasid >= maxPasids) return errno('ENOSPC');
  k.state.nextPasid = pasid + 1;
  const id = k.alloc('iommu_mm', `${mm}.iommu_mm`);
  const m: IommuMm = { id, mm, pasid, sva_domains: [] };
  k.state.mms[mm] = m;
  return m;
});

/** iommu_sva_bind_device(): an SVA handle id or an errno. */
export const iommu_sva_bind_device = kfunc('iommu_sva_bind_device', { actor: 'iommu-core', source: 'drivers/iommu/iommu-sva.c: iommu_sva_bind_device' }, async function iommu_sva_bind_device(k: IK, { dev, mm }: { dev: string; mm: string }): Promise<string | Errno> {
  const g = groupOfDevice(k, dev);
  const di = devIommuOf(k, dev);
  if (g === null || di === null) return errno('ENODEV');
  await k.lock(iommuSvaLock());
  try {
    const m = allocMmData(k, mm, di.max_pasids);
    if (isErrno(m)) return m;
    const pasid = k.read(m, 'pasid', sva);
    // an existing bond of this group on that PASID
    const attached = await withGroupMutex(k, g, async () => k.read(g, 'pasid_array', underGroup(g.id))[String(pasid)] ?? null);
    if (attached !== null) {
      const h = Object.values(k.state.handles).find((x) => x.group === g.id && x.pasid === pasid && x.domain === attached);
      const d = k.state.domains[attached];
      if (h === undefined || d === undefined || d.type !== 'sva') return errno('EBUSY');
      if (d.mm !== mm) return errno('EBUSY');
      k.write(h, 'users', k.read(h, 'users', sva) + 1, sva);
      return h.id;
    }
    // reuse an SVA domain this mm already has on the same IOMMU, else allocate one
    let domain: string | null = null;
    for (const cand of k.read(m, 'sva_domains', sva)) {
      const d = k.state.domains[cand];
      if (d === undefined || d.unit !== di.unit) continue;
      const ret = await withGroupMutex(k, g, () => attachPasidLocked(k, g, cand, pasid));
      if (ret === 0) {
        domain = cand;
        k.write(d, 'users', k.read(d, 'users', sva) + 1, sva);
        break;
      }
    }
    if (domain === null) {
      const d = await allocDomain(k, di.unit, 'sva', dev, { mm });
      if (isErrno(d)) return d;
      const dom = k.state.domains[d]!;
      if (!supportsSetDevPasid(k, dom)) {
        await freeDomain(k, d);
        return errno('EOPNOTSUPP');
      }
      const ret = await withGroupMutex(k, g, () => attachPasidLocked(k, g, d, pasid));
      if (isErrno(ret)) {
        await freeDomain(k, d);
        return ret;
      }
      k.write(dom, 'users', 1, sva);
      k.write(m, 'sva_domains', [...k.read(m, 'sva_domains', sva), d], sva);
      domain = d;
    }
    const id = k.alloc('iommu_sva');
    const h: SvaHandle = { id, dev, group: g.id, domain, pasid, users: 1 };
    k.state.handles[id] = h;
    return id;
  } finally {
    await k.unlock(iommuSvaLock());
  }
});

/** iommu_sva_unbind_device(): the last user detaches the PASID; the last bond of a domain frees it. */
export const iommu_sva_unbind_device = kfunc('iommu_sva_unbind_device', { actor: 'iommu-core', source: 'drivers/iommu/iommu-sva.c: iommu_sva_unbind_device' }, async function iommu_sva_unbind_device(k: IK, { handle }: { handle: string }): Promise<Ret> {
  k.use(asObj(handle), 'iommu_sva_unbind_device');
  const h = k.state.handles[handle];
  if (h === undefined) return errno('EINVAL');
  await k.lock(iommuSvaLock());
  try {
    const users = k.read(h, 'users', sva) - 1;
    k.write(h, 'users', users, sva);
    if (users > 0) return 0;
    const g = k.state.groups[h.group];
    if (g !== undefined) await withGroupMutex(k, g, () => detachPasidLocked(k, g, h.domain, h.pasid));
    delete k.state.handles[handle];
    k.free(h.id);
    const d = k.state.domains[h.domain];
    if (d !== undefined) {
      const left = k.read(d, 'users', sva) - 1;
      k.write(d, 'users', left, sva);
      if (left === 0) {
        const m = d.mm === null ? undefined : k.state.mms[d.mm];
        if (m !== undefined) k.write(m, 'sva_domains', k.read(m, 'sva_domains', sva).filter((x) => x !== h.domain), sva);
        await freeDomain(k, h.domain);
      }
    }
    return 0;
  } finally {
    await k.unlock(iommuSvaLock());
  }
});
