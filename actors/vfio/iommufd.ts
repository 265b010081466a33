import { errno, isErrno } from '../../protocol/errno.ts';
import type { Errno } from '../../protocol/errno.ts';
import { IOMMU_CORE } from '../../protocol/kernel.ts';
import {
  LOCKLESS, allocObj, atomic, ictxObjectsLock, igroupLock, ioasMutex, iovaRwsem, underDevSet, underIgroup, underIoas, underIova, underObjects,
} from './state.ts';
import type { DeviceFile, Hwpt, Idev, Igroup, IommufdCtx, IommufdObjType, Ioas, VFile, VK, VfioDevice } from './state.ts';
import { allocFile, fput, getFile } from './files.ts';
import { kfunc } from '../../runtime/kfunc.ts';
import { pciSpec } from '../../protocol/topology.ts';

/**
 * iommufd (drivers/iommu/iommufd/) as far as VFIO uses it, and VFIO's side
 * of it (drivers/vfio/iommufd.c); docs/kernel-facts.md §4.2, §1.2 edges
 * 22–24. It lives in the vfio actor: the context, IOAS (with its
 * io_pagetable), HWPT_PAGING, iommufd_group and iommufd_device objects.
 *
 * Lock order: dev_set->lock → ioas->mutex → igroup->lock → group->mutex
 * (attach), igroup->lock → iopt->iova_rwsem (reserved regions), ioas->mutex
 * → iopt->iova_rwsem (a new domain is filled with the IOAS's areas).
 * iommufd_ctx_get/put are get_file/fput on the iommufd file, so a bound
 * device keeps the file (and its objects) alive.
 *
 * Simplifications: object ids are the model's object names; a PASID is
 * attached once per device (a second attach of the same PASID is -EBUSY, no
 * PASID replace); REMOVE_WAIT, vIOMMU, nesting, faults and dirty tracking
 * are not modelled; MSI is isolated on every platform.
 */

type Ret = 0 | Errno;
const NO_PASID = 0;

// ---- the context and its object table ----------------------------------------------------------

/** open("/dev/iommu"): iommufd_fops_open(). */
export const iommufdFopsOpen = kfunc('iommufd_fops_open', { actor: 'vfio', source: 'drivers/iommu/iommufd/main.c: iommufd_fops_open' }, function iommufdFopsOpen(k: VK, proc: string): string {
  const id = allocObj(k, 'iommufd_ctx', 'ictx');
  const f = allocFile(k, 'iommufd', id, proc);
  k.state.ictxs[id] = { id, file: f.id, objects: {}, groups: {}, vfio_ioas: null };
  return f.id;
});

export const iommufdCtxGet = kfunc('iommufd_ctx_get', { actor: 'vfio', source: 'drivers/iommu/iommufd/main.c: iommufd_ctx_get' }, function iommufdCtxGet(k: VK, ictx: string): void {
  const c = k.state.ictxs[ictx];
  if (c !== undefined) getFile(k, c.file);
});

export const iommufdCtxPut = kfunc('iommufd_ctx_put', { actor: 'vfio', source: 'drivers/iommu/iommufd/main.c: iommufd_ctx_put' }, function iommufdCtxPut(k: VK, ictx: string): void {
  const c = k.state.ictxs[ictx];
  if (c !== undefined) fput(k, c.file);
});

/** The ctx of an iommufd file, or null for another kind of file. */
export function ictxOfFile(k: VK, f: VFile): IommufdCtx | null {
  return f.kind === 'iommufd' ? k.state.ictxs[f.priv] ?? null : null;
}

/** iommufd_get_object(): the object's type under the table's lock, or undefined. */
const objectType = kfunc('iommufd_get_object', { actor: 'vfio', source: 'drivers/iommu/iommufd/main.c: iommufd_get_object' }, async function objectType(k: VK, c: IommufdCtx, id: string): Promise<IommufdObjType | undefined> {
  await k.lock(ictxObjectsLock(c.id));
  const t = k.read(c, 'objects', underObjects(c.id))[id];
  await k.unlock(ictxObjectsLock(c.id));
  return t;
});

const addObject = kfunc('iommufd_object_finalize', { actor: 'vfio', source: 'drivers/iommu/iommufd/main.c: iommufd_object_finalize' }, async function addObject(k: VK, c: IommufdCtx, id: string, type: IommufdObjType): Promise<void> {
  await k.lock(ictxObjectsLock(c.id));
  k.write(c, 'objects', { ...k.read(c, 'objects', underObjects(c.id)), [id]: type }, underObjects(c.id));
  await k.unlock(ictxObjectsLock(c.id));
});

const removeObject = kfunc('iommufd_object_remove', { actor: 'vfio', source: 'drivers/iommu/iommufd/main.c: iommufd_object_remove' }, async function removeObject(k: VK, c: IommufdCtx, id: string): Promise<void> {
  await k.lock(ictxObjectsLock(c.id));
  const { [id]: _gone, ...rest } = k.read(c, 'objects', underObjects(c.id));
  k.write(c, 'objects', rest, underObjects(c.id));
  if (k.read(c, 'vfio_ioas', underObjects(c.id)) === id) k.write(c, 'vfio_ioas', null, underObjects(c.id));
  await k.unlock(ictxObjectsLock(c.id));
});

/** iommufd_fops_release(): every object goes (devices cannot be left: each holds the file). */
export const iommufdFopsRelease = kfunc('iommufd_fops_release', { actor: 'vfio', source: 'drivers/iommu/iommufd/main.c: iommufd_fops_release' }, async function iommufdFopsRelease(k: VK, f: VFile): Promise<void> {
  const c = k.state.ictxs[f.priv];
  if (c === undefined) return;
  await k.lock(ictxObjectsLock(c.id));
  const objects = k.read(c, 'objects', underObjects(c.id));
  await k.unlock(ictxObjectsLock(c.id));
  for (const [id, type] of Object.entries(objects)) {
    if (type === 'hwpt_paging') {
      const h = k.state.hwpts[id];
      if (h !== undefined) await hwptDestroy(k, h);
    }
  }
  for (const [id, type] of Object.entries(objects)) {
    if (type === 'ioas') {
      const io = k.state.ioas[id];
      if (io !== undefined) await ioasDestroy(k, c, io);
    } else if (type === 'device') k.warn(`iommufd_fops_release: WARN_ON(device ${id} still bound)`);
  }
  delete k.state.ictxs[c.id];
  k.free(c.id);
});

// ---- IOAS ----------------------------------------------------------------------------------------

const ioasAlloc = kfunc('iommufd_ioas_alloc', { actor: 'vfio', source: 'drivers/iommu/iommufd/ioas.c: iommufd_ioas_alloc' }, async function ioasAlloc(k: VK, c: IommufdCtx): Promise<Ioas> {
  const id = allocObj(k, 'iommufd_ioas', 'ioas');
  const io: Ioas = { id, ictx: c.id, hwpt_list: [], areas: {}, domains: [] };
  k.state.ioas[id] = io;
  await addObject(k, c, id, 'ioas');
  return io;
});

/** IOMMU_IOAS_ALLOC: replies the IOAS id. */
export const iommufdIoasAlloc = kfunc('iommufd_ioas_alloc_ioctl', { actor: 'vfio', source: 'drivers/iommu/iommufd/ioas.c: iommufd_ioas_alloc_ioctl' }, async function iommufdIoasAlloc(k: VK, c: IommufdCtx): Promise<string> {
  return (await ioasAlloc(k, c)).id;
});

/** iommufd_get_ioas(): the object of that id, -ENOENT if none, -EINVAL if it is not an IOAS. */
const ioasOf = kfunc('iommufd_get_ioas', { actor: 'vfio', source: 'drivers/iommu/iommufd/iommufd_private.h: iommufd_get_ioas' }, async function ioasOf(k: VK, c: IommufdCtx, id: string): Promise<Ioas | Errno> {
  const t = await objectType(k, c, id);
  if (t === undefined) return errno('ENOENT');
  if (t !== 'ioas') return errno('EINVAL');
  return k.state.ioas[id] ?? errno('ENOENT');
});

/** iopt_map_pages(): iova_rwsem (write); an area there already -EEXIST; the page into every domain of the IOAS. */
const ioasMap = kfunc('iopt_map_pages', { actor: 'vfio', source: 'drivers/iommu/iommufd/io_pagetable.c: iopt_map_pages' }, async function ioasMap(k: VK, io: Ioas, iova: number, page: string): Promise<Ret> {
  const il = underIova(io.id);
  await k.down_write(iovaRwsem(io.id));
  try {
    const areas = k.read(io, 'areas', il);
    if (areas[String(iova)] !== undefined) return errno('EEXIST');
    const done: string[] = [];
    for (const d of k.read(io, 'domains', il)) {
      const r = await k.call<Ret>(IOMMU_CORE, 'iommu_map', { domain: d, iova, page });
      if (isErrno(r)) {
        for (const back of done) await k.call(IOMMU_CORE, 'iommu_unmap', { domain: back, iova });
        return r;
      }
      done.push(d);
    }
    k.write(io, 'areas', { ...areas, [String(iova)]: page }, il);
    return 0;
  } finally {
    await k.up_write(iovaRwsem(io.id));
  }
});

/** iopt_unmap_iova(): no area there -ENOENT. */
const ioasUnmap = kfunc('iopt_unmap_iova', { actor: 'vfio', source: 'drivers/iommu/iommufd/io_pagetable.c: iopt_unmap_iova' }, async function ioasUnmap(k: VK, io: Ioas, iova: number): Promise<Ret> {
  const il = underIova(io.id);
  await k.down_write(iovaRwsem(io.id));
  try {
    const { [String(iova)]: page, ...rest } = k.read(io, 'areas', il);
    if (page === undefined) return errno('ENOENT');
    for (const d of k.read(io, 'domains', il)) await k.call(IOMMU_CORE, 'iommu_unmap', { domain: d, iova });
    k.write(io, 'areas', rest, il);
    return 0;
  } finally {
    await k.up_write(iovaRwsem(io.id));
  }
});

export const iommufdIoasMap = kfunc('iommufd_ioas_map', { actor: 'vfio', source: 'drivers/iommu/iommufd/ioas.c: iommufd_ioas_map' }, async function iommufdIoasMap(k: VK, c: IommufdCtx, ioas: string, iova: number, page: string): Promise<Ret> {
  const io = await ioasOf(k, c, ioas);
  return isErrno(io) ? io : ioasMap(k, io, iova, page);
});

export const iommufdIoasUnmap = kfunc('iommufd_ioas_unmap', { actor: 'vfio', source: 'drivers/iommu/iommufd/ioas.c: iommufd_ioas_unmap' }, async function iommufdIoasUnmap(k: VK, c: IommufdCtx, ioas: string, iova: number): Promise<Ret> {
  const io = await ioasOf(k, c, ioas);
  return isErrno(io) ? io : ioasUnmap(k, io, iova);
});

const ioasDestroy = kfunc('iommufd_ioas_destroy', { actor: 'vfio', source: 'drivers/iommu/iommufd/ioas.c: iommufd_ioas_destroy' }, async function ioasDestroy(k: VK, c: IommufdCtx, io: Ioas): Promise<void> {
  await removeObject(k, c, io.id);
  delete k.state.ioas[io.id];
  k.free(io.id);
});

/**
 * iommufd_vfio_compat_ioas_create(): the VFIO group path's SET_CONTAINER
 * with an iommufd: the ctx's compat IOAS, created once.
 */
export const iommufdVfioCompatIoasCreate = kfunc('iommufd_vfio_compat_ioas_create', { actor: 'vfio', source: 'drivers/iommu/iommufd/vfio_compat.c: iommufd_vfio_compat_ioas_create' }, async function iommufdVfioCompatIoasCreate(k: VK, ictx: string): Promise<Ret> {
  const c = k.state.ictxs[ictx];
  if (c === undefined) return errno('EBADFD');
  if (k.read(c, 'vfio_ioas', LOCKLESS) !== null) return 0;
  const io = await ioasAlloc(k, c);
  await k.lock(ictxObjectsLock(c.id));
  if (k.read(c, 'vfio_ioas', underObjects(c.id)) === null) k.write(c, 'vfio_ioas', io.id, underObjects(c.id));
  await k.unlock(ictxObjectsLock(c.id));
  return 0;
});

/** The compat IOAS (iommufd_vfio_compat_ioas_get_id): -ENODEV without one. */
const compatIoas = kfunc('iommufd_vfio_compat_ioas_get_id', { actor: 'vfio', source: 'drivers/iommu/iommufd/vfio_compat.c: iommufd_vfio_compat_ioas_get_id' }, async function compatIoas(k: VK, c: IommufdCtx): Promise<Ioas | Errno> {
  await k.lock(ictxObjectsLock(c.id));
  const id = k.read(c, 'vfio_ioas', underObjects(c.id));
  await k.unlock(ictxObjectsLock(c.id));
  const io = id === null ? undefined : k.state.ioas[id];
  return io ?? errno('ENODEV');
});

/** VFIO_IOMMU_MAP_DMA / UNMAP_DMA on an iommufd (iommufd_vfio_ioctl): the compat IOAS. */
export const iommufdVfioMapDma = kfunc('iommufd_vfio_map_dma', { actor: 'vfio', source: 'drivers/iommu/iommufd/vfio_compat.c: iommufd_vfio_map_dma' }, async function iommufdVfioMapDma(k: VK, c: IommufdCtx, iova: number, page: string): Promise<Ret> {
  const io = await compatIoas(k, c);
  return isErrno(io) ? io : ioasMap(k, io, iova, page);
});

export const iommufdVfioUnmapDma = kfunc('iommufd_vfio_unmap_dma', { actor: 'vfio', source: 'drivers/iommu/iommufd/vfio_compat.c: iommufd_vfio_unmap_dma' }, async function iommufdVfioUnmapDma(k: VK, c: IommufdCtx, iova: number): Promise<number | Errno> {
  const io = await compatIoas(k, c);
  if (isErrno(io)) return io;
  const r = await ioasUnmap(k, io, iova);
  return isErrno(r) ? 0 : 0x1000;
});

/** VFIO_SET_IOMMU on an iommufd (iommufd_vfio_set_iommu): type1 only; the compat IOAS. */
export const iommufdVfioSetIommu = kfunc('iommufd_vfio_set_iommu', { actor: 'vfio', source: 'drivers/iommu/iommufd/vfio_compat.c: iommufd_vfio_set_iommu' }, async function iommufdVfioSetIommu(k: VK, c: IommufdCtx, type1: boolean): Promise<Ret> {
  if (!type1) return errno('EINVAL');
  return iommufdVfioCompatIoasCreate(k, c.id);
});

// ---- HWPT_PAGING -------------------------------------------------------------------------------

/** Does the device take PASIDs (pasid capability and a unit with PASID support)? */
function devHasPasid(k: VK, dev: string): boolean {
  const spec = pciSpec(k.state.topology, dev);
  const unit = k.state.topology.units.find((u) => u.name === spec?.unit);
  return (spec?.pasid_bits ?? 0) > 0 && unit !== undefined && (unit.max_pasids ?? 1) > 0;
}

/**
 * iommufd_hwpt_paging_alloc(), under ioas->mutex: a paging domain for the
 * device, filled with the IOAS's areas (iopt_table_add_domain: iova_rwsem),
 * and on the IOAS's hwpt_list.
 */
const hwptPagingAlloc = kfunc('iommufd_hwpt_paging_alloc', { actor: 'vfio', source: 'drivers/iommu/iommufd/hw_pagetable.c: iommufd_hwpt_paging_alloc' }, async function hwptPagingAlloc(k: VK, c: IommufdCtx, io: Ioas, dev: string, pasid: boolean, auto: boolean): Promise<Hwpt | Errno> {
  await k.assertHeld(ioasMutex(io.id));
  const domain = await k.call<unknown>(IOMMU_CORE, 'iommu_paging_domain_alloc', pasid ? { dev, flags: ['pasid'] } : { dev });
  if (isErrno(domain)) return domain;
  if (typeof domain !== 'string') return errno('ENOMEM');
  const il = underIova(io.id);
  await k.down_write(iovaRwsem(io.id));
  for (const [iova, page] of Object.entries(k.read(io, 'areas', il))) await k.call(IOMMU_CORE, 'iommu_map', { domain, iova: Number(iova), page });
  k.write(io, 'domains', [...k.read(io, 'domains', il), domain], il);
  await k.up_write(iovaRwsem(io.id));
  const id = allocObj(k, 'iommufd_hwpt_paging', 'hwpt');
  const h: Hwpt = { id, ictx: c.id, ioas: io.id, domain, pasid_compat: pasid, auto_domain: auto, users: 0 };
  k.state.hwpts[id] = h;
  k.write(io, 'hwpt_list', [...k.read(io, 'hwpt_list', underIoas(io.id)), id], underIoas(io.id));
  await addObject(k, c, id, 'hwpt_paging');
  return h;
});

/** iommufd_hwpt_paging_destroy(): off the IOAS (ioas->mutex), its domain out of the io_pagetable (iova_rwsem), then freed. */
const hwptDestroy = kfunc('iommufd_hwpt_paging_destroy', { actor: 'vfio', source: 'drivers/iommu/iommufd/hw_pagetable.c: iommufd_hwpt_paging_destroy' }, async function hwptDestroy(k: VK, h: Hwpt, ioasLocked = false): Promise<void> {
  const io = k.state.ioas[h.ioas];
  const c = k.state.ictxs[h.ictx];
  if (c !== undefined) await removeObject(k, c, h.id);
  if (io !== undefined) {
    if (!ioasLocked) await k.lock(ioasMutex(io.id));
    k.write(io, 'hwpt_list', k.read(io, 'hwpt_list', underIoas(io.id)).filter((x) => x !== h.id), underIoas(io.id));
    if (!ioasLocked) await k.unlock(ioasMutex(io.id));
    const il = underIova(io.id);
    await k.down_write(iovaRwsem(io.id));
    for (const iova of Object.keys(k.read(io, 'areas', il))) await k.call(IOMMU_CORE, 'iommu_unmap', { domain: h.domain, iova: Number(iova) });
    k.write(io, 'domains', k.read(io, 'domains', il).filter((d) => d !== h.domain), il);
    await k.up_write(iovaRwsem(io.id));
  }
  await k.call(IOMMU_CORE, 'iommu_domain_free', { domain: h.domain });
  delete k.state.hwpts[h.id];
  k.free(h.id);
});

/** iommufd_hw_pagetable_put(): an auto domain goes with its last device. */
const hwptPut = kfunc('iommufd_hw_pagetable_put', { actor: 'vfio', source: 'drivers/iommu/iommufd/hw_pagetable.c: iommufd_hw_pagetable_put' }, async function hwptPut(k: VK, h: Hwpt): Promise<void> {
  if (h.auto_domain && k.read(h, 'users', atomic()) === 0) await hwptDestroy(k, h);
});

const addUsers = (k: VK, h: Hwpt, n: number): void => k.write(h, 'users', k.read(h, 'users', atomic()) + n, atomic());

/** IOMMU_HWPT_ALLOC: a manual HWPT_PAGING for a bound device on an IOAS; -ENOENT for unknown ids. */
export const iommufdHwptAlloc = kfunc('iommufd_hwpt_alloc', { actor: 'vfio', source: 'drivers/iommu/iommufd/hw_pagetable.c: iommufd_hwpt_alloc' }, async function iommufdHwptAlloc(k: VK, c: IommufdCtx, devid: string, pt: string, pasid: boolean): Promise<string | Errno> {
  const t = await objectType(k, c, devid);
  if (t === undefined) return errno('ENOENT');
  if (t !== 'device') return errno('EINVAL');
  const idev = k.state.idevs[devid];
  const io = await ioasOf(k, c, pt);
  if (isErrno(io)) return io;
  if (idev === undefined) return errno('ENOENT');
  await k.lock(ioasMutex(io.id));
  const h = await hwptPagingAlloc(k, c, io, idev.dev, pasid, false);
  await k.unlock(ioasMutex(io.id));
  return isErrno(h) ? h : h.id;
});

/** IOMMU_DESTROY: an object in use -EBUSY (a bound device is in use by VFIO), unknown -ENOENT. */
export const iommufdDestroy = kfunc('iommufd_destroy', { actor: 'vfio', source: 'drivers/iommu/iommufd/main.c: iommufd_destroy' }, async function iommufdDestroy(k: VK, c: IommufdCtx, id: string): Promise<Ret> {
  const t = await objectType(k, c, id);
  if (t === undefined) return errno('ENOENT');
  switch (t) {
    case 'device':
      return errno('EBUSY');
    case 'hwpt_paging': {
      const h = k.state.hwpts[id];
      if (h === undefined) return errno('ENOENT');
      if (k.read(h, 'users', atomic()) > 0) return errno('EBUSY');
      await hwptDestroy(k, h);
      return 0;
    }
    case 'ioas': {
      const io = k.state.ioas[id];
      if (io === undefined) return errno('ENOENT');
      await k.lock(ioasMutex(io.id));
      const busy = k.read(io, 'hwpt_list', underIoas(io.id)).length > 0;
      await k.unlock(ioasMutex(io.id));
      if (busy) return errno('EBUSY');
      await ioasDestroy(k, c, io);
      return 0;
    }
  }
});

// ---- iommufd_group and iommufd_device -----------------------------------------------------------

/** iommufd_get_group(): the ctx's igroup for the device's iommu group, created on first use (it keeps the iommu_group reference). */
const getIgroup = kfunc('iommufd_get_group', { actor: 'vfio', source: 'drivers/iommu/iommufd/device.c: iommufd_get_group' }, async function getIgroup(k: VK, c: IommufdCtx, dev: string): Promise<Igroup | Errno> {
  const ig = await k.call<string | null>(IOMMU_CORE, 'iommu_group_get', { dev });
  if (ig === null) return errno('ENODEV');
  await k.lock(ictxObjectsLock(c.id));
  const ol = underObjects(c.id);
  const have = k.read(c, 'groups', ol)[ig];
  let igroup = have === undefined ? undefined : k.state.igroups[have];
  if (igroup !== undefined) k.write(igroup, 'kref', k.read(igroup, 'kref', atomic()) + 1, atomic());
  else {
    const id = allocObj(k, 'iommufd_group', 'igroup');
    igroup = { id, ictx: c.id, group: ig, attach: {}, kref: 1 };
    k.state.igroups[id] = igroup;
    k.write(c, 'groups', { ...k.read(c, 'groups', ol), [ig]: id }, ol);
  }
  await k.unlock(ictxObjectsLock(c.id));
  if (have !== undefined) await k.call(IOMMU_CORE, 'iommu_group_put', { group: ig });
  return igroup;
});

/** iommufd_put_group(): the last reference takes it out of the ctx and drops the iommu_group. */
const putIgroup = kfunc('iommufd_put_group', { actor: 'vfio', source: 'drivers/iommu/iommufd/device.c: iommufd_put_group' }, async function putIgroup(k: VK, igroup: Igroup): Promise<void> {
  const n = k.read(igroup, 'kref', atomic()) - 1;
  k.write(igroup, 'kref', n, atomic());
  if (n > 0) return;
  // ordered after the last detach by the kref in the kernel; by igroup->lock here (the model orders nothing through atomics)
  await k.lock(igroupLock(igroup.id));
  const left = Object.keys(k.read(igroup, 'attach', underIgroup(igroup.id))).length;
  await k.unlock(igroupLock(igroup.id));
  if (left > 0) k.warn(`iommufd_group_release: WARN_ON(igroup->hwpt) for ${igroup.id}`);
  const c = k.state.ictxs[igroup.ictx];
  if (c !== undefined) {
    await k.lock(ictxObjectsLock(c.id));
    const { [igroup.group]: _gone, ...rest } = k.read(c, 'groups', underObjects(c.id));
    k.write(c, 'groups', rest, underObjects(c.id));
    await k.unlock(ictxObjectsLock(c.id));
  }
  await k.call(IOMMU_CORE, 'iommu_group_put', { group: igroup.group });
  delete k.state.igroups[igroup.id];
  k.free(igroup.id);
});

/**
 * vfio_df_iommufd_bind() → vfio_iommufd_physical_bind() →
 * iommufd_device_bind(), under dev_set->lock: the igroup, then
 * iommu_device_claim_dma_owner(dev, ictx) (a kernel driver on a sibling or
 * another ctx owning the group: -EPERM; the same ctx shares the claim; the
 * first claim moves the group to the blocking domain), then the device
 * object, which holds the iommufd file.
 */
export const vfioIommufdBind = kfunc('vfio_iommufd_physical_bind', { actor: 'vfio', source: 'drivers/vfio/iommufd.c: vfio_iommufd_physical_bind' }, async function vfioIommufdBind(k: VK, vdev: VfioDevice, df: DeviceFile, ictx: string): Promise<Ret> {
  const c = k.state.ictxs[ictx];
  if (c === undefined) return errno('EBADFD');
  const igroup = await getIgroup(k, c, vdev.dev);
  if (isErrno(igroup)) return igroup;
  const claimed = await k.call<Ret>(IOMMU_CORE, 'iommu_device_claim_dma_owner', { dev: vdev.dev, owner: c.id });
  if (isErrno(claimed)) {
    await putIgroup(k, igroup);
    return claimed;
  }
  const id = allocObj(k, 'iommufd_device', 'idev');
  const idev: Idev = { id, ictx: c.id, dev: vdev.dev, igroup: igroup.id, vdev: vdev.id };
  k.state.idevs[id] = idev;
  await addObject(k, c, id, 'device');
  iommufdCtxGet(k, c.id);
  const sl = underDevSet(vdev.dev_set);
  k.write(vdev, 'idev', id, sl);
  k.write(df, 'devid', id, sl);
  return 0;
});

/**
 * vfio_iommufd_unbind() → vfio_iommufd_physical_unbind(): detach every
 * PASID and the RID, then iommufd_device_unbind() → iommufd_device_destroy():
 * iommu_device_release_dma_owner() (the last sharer puts the group back on
 * its default domain), the igroup and the ctx (file) references.
 */
export const vfioIommufdUnbind = kfunc('vfio_iommufd_physical_unbind', { actor: 'vfio', source: 'drivers/vfio/iommufd.c: vfio_iommufd_physical_unbind' }, async function vfioIommufdUnbind(k: VK, vdev: VfioDevice): Promise<void> {
  const sl = underDevSet(vdev.dev_set);
  const id = k.read(vdev, 'idev', sl);
  const idev = id === null ? undefined : k.state.idevs[id];
  if (idev === undefined) return;
  for (const pasid of k.read(vdev, 'pasids', sl)) await hwptDetach(k, idev, pasid);
  k.write(vdev, 'pasids', [], sl);
  if (k.read(vdev, 'iommufd_attached', sl)) {
    await hwptDetach(k, idev, NO_PASID);
    k.write(vdev, 'iommufd_attached', false, sl);
  }
  const c = k.state.ictxs[idev.ictx];
  if (c !== undefined) await removeObject(k, c, idev.id);
  await k.call(IOMMU_CORE, 'iommu_device_release_dma_owner', { dev: idev.dev });
  const igroup = k.state.igroups[idev.igroup];
  if (igroup !== undefined) await putIgroup(k, igroup);
  iommufdCtxPut(k, idev.ictx);
  delete k.state.idevs[idev.id];
  k.free(idev.id);
  k.write(vdev, 'idev', null, sl);
});

// ---- attach, replace, detach ----------------------------------------------------------------------

const rec = (attach: Readonly<Record<string, { readonly hwpt: string; readonly devices: readonly string[] }>>, pasid: number) => attach[String(pasid)];
const pasidsAttached = (attach: Readonly<Record<string, unknown>>): boolean => Object.keys(attach).some((p) => p !== String(NO_PASID));

/** iommufd_device_attach_reserved_iova(): the device's reserved regions enforced in the IOAS (igroup->lock → iova_rwsem, §1.2 edge 23). */
const attachReservedIova = kfunc('iommufd_device_attach_reserved_iova', { actor: 'vfio', source: 'drivers/iommu/iommufd/device.c: iommufd_device_attach_reserved_iova' }, async function attachReservedIova(k: VK, h: Hwpt): Promise<void> {
  await k.down_write(iovaRwsem(h.ioas));
  await k.up_write(iovaRwsem(h.ioas));
});

/**
 * iopt_remove_reserved_iova(): the device's reserved regions leave the IOAS
 * (iova_rwsem write). iommufd_hw_pagetable_detach() →
 * iommufd_device_remove_rr() calls it for every RID detach of a paging
 * HWPT, under igroup->lock: igroup->lock → iova_rwsem on detach as well.
 */
const removeReservedIova = kfunc('iopt_remove_reserved_iova', { actor: 'vfio', source: 'drivers/iommu/iommufd/device.c: iopt_remove_reserved_iova' }, async function removeReservedIova(k: VK, h: Hwpt): Promise<void> {
  await k.down_write(iovaRwsem(h.ioas));
  await k.up_write(iovaRwsem(h.ioas));
});

/**
 * iommufd_hw_pagetable_attach(): igroup->lock; the group (for this PASID)
 * already on another HWPT -EINVAL; iommufd_hwpt_pasid_compat(): a RID HWPT
 * that is not PASID-compatible while PASIDs are attached -EINVAL, a PASID on
 * a HWPT (or beside a RID HWPT) that is not PASID-compatible -EINVAL, the
 * same PASID twice -EBUSY. Only the first device of the group really
 * attaches (iommu_attach_group_handle / iommu_attach_device_pasid); the
 * others are recorded.
 */
const hwptAttach = kfunc('iommufd_hw_pagetable_attach', { actor: 'vfio', source: 'drivers/iommu/iommufd/device.c: iommufd_hw_pagetable_attach' }, async function hwptAttach(k: VK, idev: Idev, pasid: number, h: Hwpt): Promise<Ret> {
  const igroup = k.state.igroups[idev.igroup];
  if (igroup === undefined) return errno('EINVAL');
  const gl = underIgroup(igroup.id);
  await k.lock(igroupLock(igroup.id));
  try {
    const attach = k.read(igroup, 'attach', gl);
    const cur = rec(attach, pasid);
    if (cur !== undefined && cur.hwpt !== h.id) return errno('EINVAL');
    if (pasid === NO_PASID) {
      if (!h.pasid_compat && pasidsAttached(attach)) return errno('EINVAL');
    } else {
      const rid = rec(attach, NO_PASID);
      if (!h.pasid_compat || (rid !== undefined && k.state.hwpts[rid.hwpt]?.pasid_compat !== true)) return errno('EINVAL');
      if (cur?.devices.includes(idev.id) === true) return errno('EBUSY');
    }
    await attachReservedIova(k, h);
    if (cur === undefined) {
      const r = pasid === NO_PASID
        ? await k.call<Ret>(IOMMU_CORE, 'iommu_attach_group_handle', { domain: h.domain, group: igroup.group })
        : await k.call<Ret>(IOMMU_CORE, 'iommu_attach_device_pasid', { domain: h.domain, dev: idev.dev, pasid });
      if (isErrno(r)) return r;
    }
    k.write(igroup, 'attach', { ...attach, [String(pasid)]: { hwpt: h.id, devices: [...(cur?.devices ?? []), idev.id] } }, gl);
    addUsers(k, h, 1);
    return 0;
  } finally {
    await k.unlock(igroupLock(igroup.id));
  }
});

/**
 * iommufd_device_do_replace() (the RID): igroup->lock; not attached
 * -EINVAL; the same HWPT is a no-op; the compat rule as for attach;
 * iommu_replace_group_handle() moves the group straight to the new domain
 * and every device's reference moves with it. Returns the old HWPT.
 */
const hwptReplace = kfunc('iommufd_device_do_replace', { actor: 'vfio', source: 'drivers/iommu/iommufd/device.c: iommufd_device_do_replace' }, async function hwptReplace(k: VK, idev: Idev, h: Hwpt): Promise<Hwpt | null | Errno> {
  const igroup = k.state.igroups[idev.igroup];
  if (igroup === undefined) return errno('EINVAL');
  const gl = underIgroup(igroup.id);
  await k.lock(igroupLock(igroup.id));
  try {
    const attach = k.read(igroup, 'attach', gl);
    const cur = rec(attach, NO_PASID);
    if (cur === undefined || !cur.devices.includes(idev.id)) return errno('EINVAL');
    if (cur.hwpt === h.id) return null;
    if (!h.pasid_compat && pasidsAttached(attach)) return errno('EINVAL');
    await attachReservedIova(k, h);
    const r = await k.call<Ret>(IOMMU_CORE, 'iommu_replace_group_handle', { domain: h.domain, group: igroup.group });
    if (isErrno(r)) return r;
    k.write(igroup, 'attach', { ...attach, [String(NO_PASID)]: { hwpt: h.id, devices: cur.devices } }, gl);
    const old = k.state.hwpts[cur.hwpt] ?? null;
    addUsers(k, h, cur.devices.length);
    if (old !== null) addUsers(k, old, -cur.devices.length);
    return old;
  } finally {
    await k.unlock(igroupLock(igroup.id));
  }
});

/**
 * iommufd_hw_pagetable_detach(): under igroup->lock the last device of the
 * group (for this PASID) really detaches (the RID goes back to blocking: the
 * group is owned), and a RID detach removes the device's reserved IOVAs.
 */
const hwptDetach = kfunc('iommufd_hw_pagetable_detach', { actor: 'vfio', source: 'drivers/iommu/iommufd/device.c: iommufd_hw_pagetable_detach' }, async function hwptDetach(k: VK, idev: Idev, pasid: number): Promise<void> {
  const igroup = k.state.igroups[idev.igroup];
  if (igroup === undefined) return;
  const gl = underIgroup(igroup.id);
  await k.lock(igroupLock(igroup.id));
  const attach = k.read(igroup, 'attach', gl);
  const cur = rec(attach, pasid);
  let h: Hwpt | undefined;
  if (cur !== undefined && cur.devices.includes(idev.id)) {
    h = k.state.hwpts[cur.hwpt];
    const devices = cur.devices.filter((d) => d !== idev.id);
    if (devices.length === 0) {
      const domain = h?.domain ?? '';
      if (pasid === NO_PASID) await k.call(IOMMU_CORE, 'iommu_detach_group_handle', { domain, group: igroup.group });
      else await k.call(IOMMU_CORE, 'iommu_detach_device_pasid', { domain, dev: idev.dev, pasid });
      const { [String(pasid)]: _gone, ...rest } = attach;
      k.write(igroup, 'attach', rest, gl);
    } else {
      k.write(igroup, 'attach', { ...attach, [String(pasid)]: { hwpt: cur.hwpt, devices } }, gl);
    }
    if (h !== undefined && pasid === NO_PASID) await removeReservedIova(k, h);
    if (h !== undefined) addUsers(k, h, -1);
  }
  await k.unlock(igroupLock(igroup.id));
  if (h !== undefined) await hwptPut(k, h);
});

type Mode = 'attach' | 'replace';

/**
 * iommufd_device_auto_get_domain(), under ioas->mutex (§1.2 edge 22): an
 * auto domain of the IOAS the device can use (-EINVAL from a candidate
 * means "incompatible, try the next"), else a new one (PASID-capable when
 * the device has PASIDs), attached at once; on failure it is destroyed.
 */
const autoGetDomain = kfunc('iommufd_device_auto_get_domain', { actor: 'vfio', source: 'drivers/iommu/iommufd/device.c: iommufd_device_auto_get_domain' }, async function autoGetDomain(k: VK, c: IommufdCtx, idev: Idev, pasid: number, io: Ioas, mode: Mode): Promise<{ readonly pt: string; readonly old: Hwpt | null } | Errno> {
  await k.lock(ioasMutex(io.id));
  try {
    for (const id of k.read(io, 'hwpt_list', underIoas(io.id))) {
      const h = k.state.hwpts[id];
      if (h === undefined || !k.read(h, 'auto_domain', underIoas(io.id))) continue;
      const r = mode === 'attach' ? await hwptAttach(k, idev, pasid, h) : await hwptReplace(k, idev, h);
      if (isErrno(r)) {
        if (r.errno === 'EINVAL') continue;
        return r;
      }
      return { pt: h.id, old: r === 0 ? null : r };
    }
    const h = await hwptPagingAlloc(k, c, io, idev.dev, devHasPasid(k, idev.dev), true);
    if (isErrno(h)) return h;
    const r = mode === 'attach' ? await hwptAttach(k, idev, pasid, h) : await hwptReplace(k, idev, h);
    if (isErrno(r)) {
      // iommufd_object_abort_and_destroy(), still under ioas->mutex
      await hwptDestroy(k, h, true);
      return r;
    }
    return { pt: h.id, old: r === 0 ? null : r };
  } finally {
    await k.unlock(ioasMutex(io.id));
  }
});

/** iommufd_device_change_pt(): an IOAS id (auto domain) or a HWPT_PAGING id; unknown -ENOENT, another object -EINVAL. */
const deviceChangePt = kfunc('iommufd_device_change_pt', { actor: 'vfio', source: 'drivers/iommu/iommufd/device.c: iommufd_device_change_pt' }, async function deviceChangePt(k: VK, idev: Idev, pasid: number, pt: string, mode: Mode): Promise<string | Errno> {
  const c = k.state.ictxs[idev.ictx];
  if (c === undefined) return errno('EINVAL');
  const t = await objectType(k, c, pt);
  let out: { readonly pt: string; readonly old: Hwpt | null } | Errno;
  if (t === undefined) return errno('ENOENT');
  if (t === 'hwpt_paging') {
    const h = k.state.hwpts[pt];
    if (h === undefined) return errno('ENOENT');
    const r = mode === 'attach' ? await hwptAttach(k, idev, pasid, h) : await hwptReplace(k, idev, h);
    out = isErrno(r) ? r : { pt: h.id, old: r === 0 ? null : r };
  } else if (t === 'ioas') {
    const io = k.state.ioas[pt];
    if (io === undefined) return errno('ENOENT');
    out = await autoGetDomain(k, c, idev, pasid, io, mode);
  } else return errno('EINVAL');
  if (isErrno(out)) return out;
  // the old HWPT is destroyed after everything is unlocked
  if (out.old !== null) await hwptPut(k, out.old);
  return out.pt;
});

/**
 * VFIO_DEVICE_ATTACH_IOMMUFD_PT under dev_set->lock (§1.2 edge 24):
 * vfio_iommufd_physical_attach_ioas() (attach, or replace once attached) or
 * the PASID variant (a device without PASIDs -EINVAL; the same PASID twice
 * -EBUSY). Replies the HWPT id.
 */
export const vfioIommufdAttachIoas = kfunc('vfio_iommufd_physical_attach_ioas', { actor: 'vfio', source: 'drivers/vfio/iommufd.c: vfio_iommufd_physical_attach_ioas' }, async function vfioIommufdAttachIoas(k: VK, vdev: VfioDevice, pt: string, pasid: number): Promise<string | Errno> {
  const sl = underDevSet(vdev.dev_set);
  const id = k.read(vdev, 'idev', sl);
  const idev = id === null ? undefined : k.state.idevs[id];
  if (idev === undefined) {
    k.warn(`vfio_iommufd_physical_attach_ioas: WARN_ON(!vdev->iommufd_device) for ${vdev.id}`);
    return errno('EINVAL');
  }
  if (pasid !== NO_PASID) {
    if (!devHasPasid(k, vdev.dev)) return errno('EINVAL');
    if (k.read(vdev, 'pasids', sl).includes(pasid)) return errno('EBUSY');
    const r = await deviceChangePt(k, idev, pasid, pt, 'attach');
    if (!isErrno(r)) k.write(vdev, 'pasids', [...k.read(vdev, 'pasids', sl), pasid], sl);
    return r;
  }
  const attached = k.read(vdev, 'iommufd_attached', sl);
  const r = await deviceChangePt(k, idev, NO_PASID, pt, attached ? 'replace' : 'attach');
  if (!isErrno(r)) k.write(vdev, 'iommufd_attached', true, sl);
  return r;
});

/** VFIO_DEVICE_DETACH_IOMMUFD_PT: nothing attached is a no-op (returns 0). */
export const vfioIommufdDetachIoas = kfunc('vfio_iommufd_physical_detach_ioas', { actor: 'vfio', source: 'drivers/vfio/iommufd.c: vfio_iommufd_physical_detach_ioas' }, async function vfioIommufdDetachIoas(k: VK, vdev: VfioDevice, pasid: number): Promise<Ret> {
  const sl = underDevSet(vdev.dev_set);
  const id = k.read(vdev, 'idev', sl);
  const idev = id === null ? undefined : k.state.idevs[id];
  if (idev === undefined) return 0;
  if (pasid !== NO_PASID) {
    if (!k.read(vdev, 'pasids', sl).includes(pasid)) return 0;
    await hwptDetach(k, idev, pasid);
    k.write(vdev, 'pasids', k.read(vdev, 'pasids', sl).filter((p) => p !== pasid), sl);
    return 0;
  }
  if (!k.read(vdev, 'iommufd_attached', sl)) return 0;
  await hwptDetach(k, idev, NO_PASID);
  k.write(vdev, 'iommufd_attached', false, sl);
  return 0;
});

/** vfio_iommufd_compat_attach_ioas(): the group path's first open with an iommufd attaches the compat IOAS. */
export const vfioIommufdCompatAttachIoas = kfunc('vfio_iommufd_compat_attach_ioas', { actor: 'vfio', source: 'drivers/vfio/iommufd.c: vfio_iommufd_compat_attach_ioas' }, async function vfioIommufdCompatAttachIoas(k: VK, vdev: VfioDevice, ictx: string): Promise<Ret> {
  const c = k.state.ictxs[ictx];
  if (c === undefined) return errno('ENODEV');
  const io = await compatIoas(k, c);
  if (isErrno(io)) return io;
  const r = await vfioIommufdAttachIoas(k, vdev, io.id, NO_PASID);
  return isErrno(r) ? r : 0;
});
