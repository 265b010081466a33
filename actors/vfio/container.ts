import { errno, isErrno } from '../../protocol/errno.ts';
import type { Errno } from '../../protocol/errno.ts';
import { IOMMU_CORE } from '../../protocol/kernel.ts';
import type { VfioIommuType } from '../../protocol/vfio.ts';
import {
  LOCKLESS, allocObj, asObj, atomic, containerGroupLock, vfioIommuDriversLock, type1IommuLock, underContainer, underGroupLock, underIommu,
  vfioGroupLock,
} from './state.ts';
import type { Type1Iommu, VFile, VK, VfioContainer, VfioGroup } from './state.ts';
import { allocFile } from './files.ts';
import { kfunc } from '../../runtime/kfunc.ts';

/**
 * The legacy container (drivers/vfio/container.c) and its type1 backend
 * (drivers/vfio/vfio_iommu_type1.c); docs/kernel-facts.md §4.1 steps 3–4
 * and 8. Lock order: vfio_group->group_lock → container->group_lock →
 * vfio_iommu->lock → group->mutex (§1.2 edges 17, 18).
 *
 * Simplifications: type1 gives every iommu group a domain of its own (the
 * kernel first tries to attach a new group to an existing domain of the
 * same driver); VFIO_CHECK_EXTENSION is not modelled; a mapping is one page.
 */

type Ret = 0 | Errno;

/** open("/dev/vfio/vfio"): vfio_fops_open(), a container with one reference (the file's). */
export const vfioFopsOpen = kfunc('vfio_fops_open', { actor: 'vfio', source: 'drivers/vfio/container.c: vfio_fops_open' }, function vfioFopsOpen(k: VK, proc: string): string {
  const id = allocObj(k, 'vfio_container', 'container');
  k.state.containers[id] = { id, group_list: [], iommu_driver: null, iommu: null, kref: 1 };
  return allocFile(k, 'vfio-container', id, proc).id;
});

/** vfio_container_put(): the last reference frees it. */
const containerPut = kfunc('vfio_container_put', { actor: 'vfio', source: 'drivers/vfio/container.c: vfio_container_put' }, function containerPut(k: VK, c: VfioContainer): void {
  const n = k.read(c, 'kref', atomic()) - 1;
  k.write(c, 'kref', n, atomic());
  if (n > 0) return;
  delete k.state.containers[c.id];
  k.free(c.id);
});

/** vfio_fops_release(): drops the file's container reference; attached groups keep it alive. */
export const vfioFopsRelease = kfunc('vfio_fops_release', { actor: 'vfio', source: 'drivers/vfio/container.c: vfio_fops_release' }, function vfioFopsRelease(k: VK, f: VFile): void {
  const c = k.state.containers[f.priv];
  if (c !== undefined) containerPut(k, c);
});

/** The container of a container file, or null for another kind of file. */
export function containerOfFile(k: VK, f: VFile): VfioContainer | null {
  return f.kind === 'vfio-container' ? k.state.containers[f.priv] ?? null : null;
}

/**
 * vfio_container_attach_group(), under group_lock: container->group_lock
 * (write) → iommu_group_claim_dma_owner(iommu_group, group) (§1.2 edge 17;
 * -EPERM with a kernel driver on a sibling, -EBUSY, -EINVAL for a
 * require_direct member); with a backend already set, its attach_group
 * (on failure the ownership is released).
 */
export const vfioContainerAttachGroup = kfunc('vfio_container_attach_group', { actor: 'vfio', source: 'drivers/vfio/container.c: vfio_container_attach_group' }, async function vfioContainerAttachGroup(k: VK, c: VfioContainer, grp: VfioGroup): Promise<Ret> {
  await k.assertHeld(vfioGroupLock(grp.id));
  const gl = underGroupLock(grp.id);
  const ig = k.read(grp, 'iommu_group', gl);
  if (ig === null) return errno('ENODEV');
  const cl = underContainer(c.id);
  await k.down_write(containerGroupLock(c.id));
  let ret = await k.call<Ret>(IOMMU_CORE, 'iommu_group_claim_dma_owner', { group: ig, owner: grp.id });
  if (!isErrno(ret)) {
    const iommu = k.read(c, 'iommu', cl);
    if (k.read(c, 'iommu_driver', cl) !== null && iommu !== null) {
      ret = await type1AttachGroup(k, k.state.iommus[iommu], ig);
      if (isErrno(ret)) await k.call(IOMMU_CORE, 'iommu_group_release_dma_owner', { group: ig });
    }
  }
  if (!isErrno(ret)) {
    k.write(grp, 'container', c.id, gl);
    k.write(grp, 'container_users', 1, gl);
    k.write(c, 'group_list', [grp.id, ...k.read(c, 'group_list', cl)], cl);
    k.write(c, 'kref', k.read(c, 'kref', atomic()) + 1, atomic());
  }
  await k.up_write(containerGroupLock(c.id));
  return ret;
});

/**
 * vfio_group_detach_container(), under group_lock: container->group_lock
 * (write), the backend's detach_group, iommu_group_release_dma_owner()
 * (back to the default domain); the last group releases the backend.
 */
export const vfioGroupDetachContainer = kfunc('vfio_group_detach_container', { actor: 'vfio', source: 'drivers/vfio/container.c: vfio_group_detach_container' }, async function vfioGroupDetachContainer(k: VK, grp: VfioGroup): Promise<void> {
  await k.assertHeld(vfioGroupLock(grp.id));
  const gl = underGroupLock(grp.id);
  const cid = k.read(grp, 'container', gl);
  const c = cid === null ? undefined : k.state.containers[cid];
  if (c === undefined) return;
  if (k.read(grp, 'container_users', gl) !== 1) k.warn(`vfio_group_detach_container: WARN_ON(group->container_users != 1) for ${grp.id}`);
  const ig = k.read(grp, 'iommu_group', gl);
  const cl = underContainer(c.id);
  await k.down_write(containerGroupLock(c.id));
  const iommu = k.read(c, 'iommu', cl);
  const t1 = iommu === null ? undefined : k.state.iommus[iommu];
  if (t1 !== undefined && ig !== null) await type1DetachGroup(k, t1, ig);
  if (ig !== null) await k.call(IOMMU_CORE, 'iommu_group_release_dma_owner', { group: ig });
  k.write(grp, 'container', null, gl);
  k.write(grp, 'container_users', 0, gl);
  const rest = k.read(c, 'group_list', cl).filter((x) => x !== grp.id);
  k.write(c, 'group_list', rest, cl);
  if (t1 !== undefined && rest.length === 0) {
    // Detaching the last group deprivileges a container, remove iommu
    await type1Release(k, t1);
    k.write(c, 'iommu_driver', null, cl);
    k.write(c, 'iommu', null, cl);
  }
  await k.up_write(containerGroupLock(c.id));
  containerPut(k, c);
});

/**
 * VFIO_SET_IOMMU: container->group_lock (write) + vfio.iommu_drivers_lock;
 * no group or a backend already set -EINVAL; no backend for the type
 * -ENODEV; attaches every group of the container (any failure unwinds).
 * The groups' iommu_group pointers are stable while they are on the
 * container's list (detach takes container->group_lock before revoking).
 */
export const vfioIoctlSetIommu = kfunc('vfio_ioctl_set_iommu', { actor: 'vfio', source: 'drivers/vfio/container.c: vfio_ioctl_set_iommu' }, async function vfioIoctlSetIommu(k: VK, c: VfioContainer, type: VfioIommuType): Promise<Ret> {
  const cl = underContainer(c.id);
  await k.down_write(containerGroupLock(c.id));
  try {
    const groups = k.read(c, 'group_list', cl);
    if (groups.length === 0 || k.read(c, 'iommu_driver', cl) !== null) return errno('EINVAL');
    await k.lock(vfioIommuDriversLock());
    try {
      if (type !== 'VFIO_TYPE1_IOMMU' && type !== 'VFIO_TYPE1v2_IOMMU') return errno('ENODEV');
      const t1 = type1Open(k, type === 'VFIO_TYPE1v2_IOMMU');
      const done: string[] = [];
      for (const g of groups) {
        const grp = k.state.groups[g];
        const ig = grp === undefined ? null : k.read(grp, 'iommu_group', LOCKLESS);
        const ret = ig === null ? errno('ENODEV') : await type1AttachGroup(k, t1, ig);
        if (isErrno(ret)) {
          for (const back of [...done].reverse()) await type1DetachGroup(k, t1, back);
          await type1Release(k, t1);
          return ret;
        }
        if (ig !== null) done.push(ig);
      }
      k.write(c, 'iommu_driver', 'type1', cl);
      k.write(c, 'iommu', t1.id, cl);
      return 0;
    } finally {
      await k.unlock(vfioIommuDriversLock());
    }
  } finally {
    await k.up_write(containerGroupLock(c.id));
  }
});

/**
 * The backend of a container ioctl: vfio_fops_unl_ioctl() reads
 * container->iommu_driver and iommu_data without container->group_lock (a
 * plain read in the kernel, kept lockless here so a concurrent
 * SET_IOMMU/last-group detach shows as a race, not as a lockset breach).
 * No backend: -EINVAL. Under the `group-lock-read` variant the caller holds
 * container->group_lock for read and the reads are guarded by it.
 */
function backendOf(k: VK, c: VfioContainer, locked: boolean): Type1Iommu | null {
  const access = locked ? underContainer(c.id) : LOCKLESS;
  if (k.read(c, 'iommu_driver', access) === null) return null;
  const id = k.read(c, 'iommu', access);
  if (id === null) return null;
  k.use(asObj(id), 'vfio_fops_unl_ioctl');
  return k.state.iommus[id] ?? null;
}

/**
 * vfio_fops_unl_ioctl() (drivers/vfio/container.c), the `default:` case:
 *
 *     driver = container->iommu_driver;
 *     data = container->iommu_data;
 *     if (driver)   // "passthrough all unrecognized ioctls"
 *             ret = driver->ops->ioctl(data, cmd, arg);
 *
 * 7.0 (`unlocked-passthrough`) takes no lock: vfio_group_detach_container()
 * may run vfio_iommu_type1_release() (kfree(iommu)) under
 * down_write(&container->group_lock) while the backend runs, so
 * vfio_dma_do_map() takes iommu->lock in freed memory
 * (scenarios/upstream/vfio-container-ioctl.ts). The candidate fix
 * (`group-lock-read`) holds down_read(&container->group_lock) around the
 * passthrough, as vfio_container_ioctl_check_extension() in the same file
 * already does for VFIO_CHECK_EXTENSION.
 */
const passthrough = kfunc('vfio_fops_unl_ioctl', { actor: 'vfio', source: 'drivers/vfio/container.c: vfio_fops_unl_ioctl' }, async function passthrough<T>(k: VK, c: VfioContainer, none: T, backend: (t1: Type1Iommu) => Promise<T>): Promise<T> {
  if (k.state.variants['container-ioctl'] === 'unlocked-passthrough') {
    const t1 = backendOf(k, c, false);
    return t1 === null ? none : backend(t1);
  }
  await k.down_read(containerGroupLock(c.id));
  try {
    const t1 = backendOf(k, c, true);
    return t1 === null ? none : await backend(t1);
  } finally {
    await k.up_read(containerGroupLock(c.id));
  }
});

/**
 * VFIO_IOMMU_MAP_DMA on a container: vfio_fops_unl_ioctl() passes it to
 * type1, whose vfio_dma_do_map() runs inside the passthrough, so a report's
 * chain reads vfio_dma_do_map ← vfio_fops_unl_ioctl as the kernel's does.
 */
export function vfioIommuMapDma(k: VK, c: VfioContainer, iova: number, page: string): Promise<Ret> {
  return passthrough<Ret>(k, c, errno('EINVAL'), (t1) => vfioDmaDoMap(k, t1, iova, page));
}

/** vfio_dma_do_map(): iommu->lock; an existing mapping -EEXIST; the pinned page into every domain. */
const vfioDmaDoMap = kfunc('vfio_dma_do_map', { actor: 'vfio', source: 'drivers/vfio/vfio_iommu_type1.c: vfio_dma_do_map' }, async function vfioDmaDoMap(k: VK, t1: Type1Iommu, iova: number, page: string): Promise<Ret> {
  const il = underIommu(t1.id);
  await k.lock(type1IommuLock(t1.id));
  try {
    const dma = k.read(t1, 'dma', il);
    if (dma[String(iova)] !== undefined) return errno('EEXIST');
    const mapped: string[] = [];
    for (const d of k.read(t1, 'domains', il)) {
      const r = await k.call<Ret>(IOMMU_CORE, 'iommu_map', { domain: d.domain, iova, page });
      if (isErrno(r)) {
        for (const back of mapped) await k.call(IOMMU_CORE, 'iommu_unmap', { domain: back, iova });
        return r;
      }
      mapped.push(d.domain);
    }
    k.write(t1, 'dma', { ...dma, [String(iova)]: page }, il);
    return 0;
  } finally {
    await k.unlock(type1IommuLock(t1.id));
  }
});

/** VFIO_IOMMU_UNMAP_DMA on a container, through the passthrough as the map. */
export function vfioIommuUnmapDma(k: VK, c: VfioContainer, iova: number): Promise<number | Errno> {
  return passthrough<number | Errno>(k, c, errno('EINVAL'), (t1) => vfioDmaDoUnmap(k, t1, iova));
}

/** vfio_dma_do_unmap(): replies the bytes unmapped (0 when nothing is mapped there). */
const vfioDmaDoUnmap = kfunc('vfio_dma_do_unmap', { actor: 'vfio', source: 'drivers/vfio/vfio_iommu_type1.c: vfio_dma_do_unmap' }, async function vfioDmaDoUnmap(k: VK, t1: Type1Iommu, iova: number): Promise<number | Errno> {
  const il = underIommu(t1.id);
  await k.lock(type1IommuLock(t1.id));
  try {
    const { [String(iova)]: page, ...rest } = k.read(t1, 'dma', il);
    if (page === undefined) return 0;
    for (const d of k.read(t1, 'domains', il)) await k.call(IOMMU_CORE, 'iommu_unmap', { domain: d.domain, iova });
    k.write(t1, 'dma', rest, il);
    return 0x1000;
  } finally {
    await k.unlock(type1IommuLock(t1.id));
  }
});

// ---- type1 ----------------------------------------------------------------------------------------

const type1Open = kfunc('vfio_iommu_type1_open', { actor: 'vfio', source: 'drivers/vfio/vfio_iommu_type1.c: vfio_iommu_type1_open' }, function type1Open(k: VK, v2: boolean): Type1Iommu {
  const id = allocObj(k, 'vfio_iommu', 'vfio_iommu');
  const t1: Type1Iommu = { id, v2, domains: [], dma: {} };
  k.state.iommus[id] = t1;
  return t1;
});

/**
 * vfio_iommu_type1_attach_group(): iommu->lock; a group already attached
 * -EINVAL; a paging domain allocated for a member under group->mutex
 * (iommu_group_for_each_dev → iommu_paging_domain_alloc), then
 * iommu_attach_group() (§1.2 edge 18) and the existing mappings replayed
 * into it (vfio_iommu_replay).
 */
const type1AttachGroup = kfunc('vfio_iommu_type1_attach_group', { actor: 'vfio', source: 'drivers/vfio/vfio_iommu_type1.c: vfio_iommu_type1_attach_group' }, async function type1AttachGroup(k: VK, t1: Type1Iommu | undefined, ig: string): Promise<Ret> {
  if (t1 === undefined) return errno('EINVAL');
  const il = underIommu(t1.id);
  await k.lock(type1IommuLock(t1.id));
  try {
    if (k.read(t1, 'domains', il).some((d) => d.groups.includes(ig))) return errno('EINVAL');
    const domain = await k.call<unknown>(IOMMU_CORE, 'iommu_group_for_each_dev', { group: ig, fn: { to: IOMMU_CORE, op: 'iommu_paging_domain_alloc', body: {} } });
    if (isErrno(domain)) return domain;
    if (typeof domain !== 'string') return errno('EIO');
    const ret = await k.call<Ret>(IOMMU_CORE, 'iommu_attach_group', { domain, group: ig });
    if (isErrno(ret)) {
      await k.call(IOMMU_CORE, 'iommu_domain_free', { domain });
      return ret;
    }
    for (const [iova, page] of Object.entries(k.read(t1, 'dma', il))) await k.call(IOMMU_CORE, 'iommu_map', { domain, iova: Number(iova), page });
    k.write(t1, 'domains', [...k.read(t1, 'domains', il), { domain, groups: [ig] }], il);
    return 0;
  } finally {
    await k.unlock(type1IommuLock(t1.id));
  }
});

/** vfio_iommu_type1_detach_group(): iommu->lock; iommu_detach_group(); an empty domain is unmapped and freed. */
const type1DetachGroup = kfunc('vfio_iommu_type1_detach_group', { actor: 'vfio', source: 'drivers/vfio/vfio_iommu_type1.c: vfio_iommu_type1_detach_group' }, async function type1DetachGroup(k: VK, t1: Type1Iommu, ig: string): Promise<void> {
  const il = underIommu(t1.id);
  await k.lock(type1IommuLock(t1.id));
  const domains = k.read(t1, 'domains', il);
  const d = domains.find((x) => x.groups.includes(ig));
  if (d !== undefined) {
    await k.call(IOMMU_CORE, 'iommu_detach_group', { domain: d.domain, group: ig });
    const groups = d.groups.filter((x) => x !== ig);
    if (groups.length === 0) {
      for (const iova of Object.keys(k.read(t1, 'dma', il))) await k.call(IOMMU_CORE, 'iommu_unmap', { domain: d.domain, iova: Number(iova) });
      await k.call(IOMMU_CORE, 'iommu_domain_free', { domain: d.domain });
      const left = domains.filter((x) => x !== d);
      k.write(t1, 'domains', left, il);
      // the last domain: vfio_iommu_unmap_unpin_all()
      if (left.length === 0) k.write(t1, 'dma', {}, il);
    } else {
      k.write(t1, 'domains', domains.map((x) => (x === d ? { domain: d.domain, groups } : x)), il);
    }
  }
  await k.unlock(type1IommuLock(t1.id));
});

/** vfio_iommu_type1_release(): every domain went with its last group (the container's groups are detached first); frees the backend. */
const type1Release = kfunc('vfio_iommu_type1_release', { actor: 'vfio', source: 'drivers/vfio/vfio_iommu_type1.c: vfio_iommu_type1_release' }, async function type1Release(k: VK, t1: Type1Iommu): Promise<void> {
  delete k.state.iommus[t1.id];
  k.free(t1.id);
});
