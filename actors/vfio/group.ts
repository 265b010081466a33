import { errno, isErrno } from '../../protocol/errno.ts';
import type { Errno } from '../../protocol/errno.ts';
import { IOMMU_CORE } from '../../protocol/kernel.ts';
import type { GroupStatus } from '../../protocol/vfio.ts';
import {
  GROUP_LIST, LOCKLESS, allocObj, atomic, chrdevsLock, initFields, underChrdevs, underGroupDeviceLock, underGroupLock, vfioGroupDeviceLock,
  vfioGroupListLock, vfioGroupLock,
} from './state.ts';
import type { VFile, VK, VfioGroup } from './state.ts';
import { allocFile, discardFile, fget, fput } from './files.ts';
import { vfioContainerAttachGroup, vfioGroupDetachContainer } from './container.ts';
import { iommufdCtxGet, iommufdCtxPut, iommufdVfioCompatIoasCreate } from './iommufd.ts';
import { kfunc } from '../../runtime/kfunc.ts';

/**
 * VFIO groups (drivers/vfio/group.c; docs/kernel-facts.md §4.0–4.1): a
 * vfio_group per iommu group that has a VFIO driver, created by the first
 * registration and removed with the last (vfio_group_find_or_alloc,
 * vfio_device_remove_group), and the group fd /dev/vfio/$GROUP with its
 * ioctls. group->group_lock is the outer lock of everything the group fd
 * does; a group fd may outlive its devices: vfio_device_remove_group()
 * revokes group->iommu_group and every later ioctl gets -ENODEV.
 */

type Ret = 0 | Errno;

const nodeOf = (number: string): string => `/dev/vfio/${number}`;

/** The group number of an iommu group id ("iommu_group.3" → "3"). */
const numberOf = (iommuGroup: string): string => iommuGroup.slice(iommuGroup.lastIndexOf('.') + 1);

// ---- lifetime ---------------------------------------------------------------------------------

/**
 * put_device(&group->dev): the last reference is vfio_group_release() (WARN
 * if iommu_group is still set). The kernel reads the field bare, ordered
 * after its last writer by the refcount's release/acquire; the model has no
 * ordering through atomics, so the read is made under group_lock.
 */
export const vfioGroupPut = kfunc('vfio_group_put', { actor: 'vfio', source: 'drivers/vfio/group.c: vfio_group_put' }, async function vfioGroupPut(k: VK, grp: VfioGroup): Promise<void> {
  const n = k.read(grp, 'kref', atomic()) - 1;
  k.write(grp, 'kref', n, atomic());
  if (n > 0) return;
  await k.lock(vfioGroupLock(grp.id));
  const ig = k.read(grp, 'iommu_group', underGroupLock(grp.id));
  await k.unlock(vfioGroupLock(grp.id));
  if (ig !== null) k.warn(`vfio_group_release: WARN_ON(group->iommu_group) for ${grp.id}`);
  delete k.state.groups[grp.id];
  k.free(grp.id);
});

/**
 * vfio_group_find_from_iommu(), under vfio.group_lock:
 * `list_for_each_entry(group, &vfio.group_list, vfio_next) if (group->iommu_group == iommu_group)`.
 * The walk reads each group's iommu_group until the match; one event
 * describes it (Kernel.walk): one per group was over half of a stress
 * round's events at 4,096 devices (issue 19).
 */
const findFromIommu = kfunc('vfio_group_find_from_iommu', { actor: 'vfio', source: 'drivers/vfio/group.c: vfio_group_find_from_iommu' }, function findFromIommu(k: VK, iommuGroup: string): VfioGroup | null {
  return k.walk(groupsOn(k, k.read(k.state.vfio, 'group_list', GROUP_LIST())), 'iommu_group', GROUP_LIST(), (ig) => ig === iommuGroup);
});

/** The groups of vfio.group_list in list order. */
function* groupsOn(k: VK, ids: readonly string[]): Generator<VfioGroup> {
  for (const id of ids) {
    const grp = k.state.groups[id];
    if (grp !== undefined) yield grp;
  }
}

/** vfio_group_has_device(): group->device_lock (§1.2 edge 13's innermost lock). */
const hasDevice = kfunc('vfio_group_has_device', { actor: 'vfio', source: 'drivers/vfio/group.c: vfio_group_has_device' }, async function hasDevice(k: VK, grp: VfioGroup, dev: string): Promise<boolean> {
  await k.lock(vfioGroupDeviceLock(grp.id));
  const has = k.read(grp, 'device_list', underGroupDeviceLock(grp.id)).some((v) => k.state.devices[v]?.dev === dev);
  await k.unlock(vfioGroupDeviceLock(grp.id));
  return has;
});

/** vfio_create_group(): under vfio.group_lock; the new group keeps the caller's iommu_group reference; cdev_device_add(). */
const createGroup = kfunc('vfio_create_group', { actor: 'vfio', source: 'drivers/vfio/group.c: vfio_create_group' }, async function createGroup(k: VK, iommuGroup: string): Promise<VfioGroup> {
  const number = numberOf(iommuGroup);
  const id = allocObj(k, 'vfio_group', `vfio_group.${number}`, false);
  const grp: VfioGroup = {
    id, number, iommu_group: iommuGroup, drivers: 1, kref: 1, opened_file: null, container: null, container_users: 0,
    iommufd: null, cdev_device_open_cnt: 0, device_list: [], kvm: null,
  };
  k.state.groups[id] = grp;
  initFields(k, grp, ['iommu_group', 'drivers', 'opened_file', 'cdev_device_open_cnt']);
  await k.lock(chrdevsLock());
  k.tableSet(k.state.cdevs, 'nodes', nodeOf(number), id, underChrdevs());
  await k.unlock(chrdevsLock());
  // list_add(&group->vfio_next, &vfio.group_list): at the head
  k.listAdd(k.state.vfio, 'group_list', id, GROUP_LIST(), true);
  return grp;
});

/**
 * vfio_group_find_or_alloc(), from the probe (device_lock held): no iommu
 * group is -EINVAL (vfio_noiommu is off); vfio.group_lock →
 * vfio_group->device_lock (§1.2 edge 13); an existing group gets
 * drivers++, else a new group. Every modelled unit reports
 * IOMMU_CAP_CACHE_COHERENCY.
 */
export const vfioGroupFindOrAlloc = kfunc('vfio_group_find_or_alloc', { actor: 'vfio', source: 'drivers/vfio/group.c: vfio_group_find_or_alloc' }, async function vfioGroupFindOrAlloc(k: VK, dev: string): Promise<VfioGroup | Errno> {
  const ig = await k.call<string | null>(IOMMU_CORE, 'iommu_group_get', { dev });
  if (ig === null) return errno('EINVAL');
  await k.lock(vfioGroupListLock());
  let ret: VfioGroup | Errno;
  let keepRef = false;
  const found = findFromIommu(k, ig);
  if (found !== null) {
    if (await hasDevice(k, found, dev)) {
      k.warn(`vfio_group_find_or_alloc: WARN_ON(vfio_group_has_device(group, dev)) for ${dev}`);
      ret = errno('EINVAL');
    } else {
      k.write(found, 'drivers', k.read(found, 'drivers', atomic()) + 1, atomic(vfioGroupListLock()));
      ret = found;
    }
  } else {
    ret = await createGroup(k, ig);
    keepRef = true;
  }
  await k.unlock(vfioGroupListLock());
  if (!keepRef) await k.call(IOMMU_CORE, 'iommu_group_put', { group: ig });
  return ret;
});

/**
 * vfio_device_remove_group(): refcount_dec_and_mutex_lock(&group->drivers,
 * &vfio.group_lock); the last driver takes the group off the list, removes
 * its cdev, and under group_lock detaches the container and revokes
 * group->iommu_group (§1.2 edge 14's tail: vfio.group_lock → group_lock).
 */
export const vfioDeviceRemoveGroup = kfunc('vfio_device_remove_group', { actor: 'vfio', source: 'drivers/vfio/group.c: vfio_device_remove_group' }, async function vfioDeviceRemoveGroup(k: VK, grp: VfioGroup): Promise<void> {
  const d = k.read(grp, 'drivers', atomic());
  if (d > 1) {
    k.write(grp, 'drivers', d - 1, atomic());
    return;
  }
  await k.lock(vfioGroupListLock());
  const left = k.read(grp, 'drivers', atomic()) - 1;
  k.write(grp, 'drivers', left, atomic(vfioGroupListLock()));
  if (left !== 0) {
    await k.unlock(vfioGroupListLock());
    return;
  }
  k.listDel(k.state.vfio, 'group_list', grp.id, GROUP_LIST());
  // cdev_device_del()
  await k.lock(chrdevsLock());
  k.tableDel(k.state.cdevs, 'nodes', nodeOf(grp.number), underChrdevs());
  await k.unlock(chrdevsLock());

  const gl = underGroupLock(grp.id);
  await k.lock(vfioGroupLock(grp.id));
  // list_empty(&group->device_list) is read without group->device_lock
  if (k.read(grp, 'device_list', LOCKLESS).length > 0) k.warn(`vfio_device_remove_group: WARN_ON(!list_empty(&group->device_list)) for ${grp.id}`);
  if (k.read(grp, 'container', gl) !== null) await vfioGroupDetachContainer(k, grp);
  const ig = k.read(grp, 'iommu_group', gl);
  k.write(grp, 'iommu_group', null, gl);
  await k.unlock(vfioGroupLock(grp.id));
  await k.unlock(vfioGroupListLock());
  if (ig !== null) await k.call(IOMMU_CORE, 'iommu_group_put', { group: ig });
  await vfioGroupPut(k, grp);
});

// ---- the group fd ----------------------------------------------------------------------------

/** vfio_group_has_iommu(): under group_lock; a container always has users and users a container. */
export const vfioGroupHasIommu = kfunc('vfio_group_has_iommu', { actor: 'vfio', source: 'drivers/vfio/group.c: vfio_group_has_iommu' }, async function vfioGroupHasIommu(k: VK, grp: VfioGroup): Promise<boolean> {
  await k.assertHeld(vfioGroupLock(grp.id));
  const gl = underGroupLock(grp.id);
  const container = k.read(grp, 'container', gl);
  if ((container === null) !== (k.read(grp, 'container_users', gl) === 0)) k.warn(`vfio_group_has_iommu: WARN_ON(!group->container != !group->container_users) for ${grp.id}`);
  return container !== null || k.read(grp, 'iommufd', gl) !== null;
});

/**
 * open("/dev/vfio/$GROUP"): the node is looked up under chrdevs_lock (which
 * also takes the group's reference: kobj_lookup), then
 * vfio_group_fops_open(): group_lock; drivers == 0 (racing
 * vfio_device_remove_group) -ENODEV; a device of the group open through its
 * cdev -EBUSY; a second opener -EBUSY. No /dev/vfio node: -ENOENT.
 */
export const vfioGroupOpen = kfunc('vfio_group_fops_open', { actor: 'vfio', source: 'drivers/vfio/group.c: vfio_group_fops_open' }, async function vfioGroupOpen(k: VK, dev: string, proc: string): Promise<string | Errno> {
  // readlink /sys/bus/pci/devices/<dev>/iommu_group
  const ig = await k.call<string | null>(IOMMU_CORE, 'iommu_group_get', { dev });
  if (ig === null) return errno('ENOENT');
  await k.call(IOMMU_CORE, 'iommu_group_put', { group: ig });
  await k.lock(chrdevsLock());
  const id = k.read(k.state.cdevs, 'nodes', underChrdevs())[nodeOf(numberOf(ig))];
  const grp = id === undefined ? undefined : k.state.groups[id];
  if (grp !== undefined) k.write(grp, 'kref', k.read(grp, 'kref', atomic()) + 1, atomic());
  await k.unlock(chrdevsLock());
  if (grp === undefined) return errno('ENOENT');

  const file = allocFile(k, 'vfio-group', grp.id, proc);
  const gl = underGroupLock(grp.id);
  let ret: Ret = 0;
  await k.lock(vfioGroupLock(grp.id));
  if (k.read(grp, 'drivers', atomic()) === 0) ret = errno('ENODEV');
  else if (k.read(grp, 'cdev_device_open_cnt', gl) > 0) ret = errno('EBUSY');
  else if (k.read(grp, 'opened_file', gl) !== null) ret = errno('EBUSY');
  else k.write(grp, 'opened_file', file.id, gl);
  await k.unlock(vfioGroupLock(grp.id));
  if (isErrno(ret)) {
    discardFile(k, file);
    await vfioGroupPut(k, grp);
    return ret;
  }
  return file.id;
});

/** vfio_group_fops_release(): detach the container, drop the iommufd, opened_file = NULL; runs only after every device fd is gone. */
export const vfioGroupFopsRelease = kfunc('vfio_group_fops_release', { actor: 'vfio', source: 'drivers/vfio/group.c: vfio_group_fops_release' }, async function vfioGroupFopsRelease(k: VK, f: VFile): Promise<void> {
  const grp = k.state.groups[f.priv];
  if (grp === undefined) return;
  const gl = underGroupLock(grp.id);
  await k.lock(vfioGroupLock(grp.id));
  if (k.read(grp, 'container', gl) !== null) await vfioGroupDetachContainer(k, grp);
  const ictx = k.read(grp, 'iommufd', gl);
  if (ictx !== null) {
    iommufdCtxPut(k, ictx);
    k.write(grp, 'iommufd', null, gl);
  }
  k.write(grp, 'opened_file', null, gl);
  await k.unlock(vfioGroupLock(grp.id));
  await vfioGroupPut(k, grp);
});

/** The vfio_group of a group file, or null when the file is another kind (the ioctl is not the group fd's: -ENOTTY). */
export function groupOfFile(k: VK, f: VFile): VfioGroup | null {
  return f.kind === 'vfio-group' ? k.state.groups[f.priv] ?? null : null;
}

/**
 * VFIO_GROUP_GET_STATUS: -ENODEV once the group is revoked; VIABLE when a
 * container/iommufd is set or nobody claimed DMA ownership (a stale answer
 * as soon as group->mutex drops, §1.4).
 */
export const vfioGroupGetStatus = kfunc('vfio_group_ioctl_get_status', { actor: 'vfio', source: 'drivers/vfio/group.c: vfio_group_ioctl_get_status' }, async function vfioGroupGetStatus(k: VK, grp: VfioGroup): Promise<GroupStatus | Errno> {
  await k.lock(vfioGroupLock(grp.id));
  try {
    const ig = k.read(grp, 'iommu_group', underGroupLock(grp.id));
    if (ig === null) return errno('ENODEV');
    if (await vfioGroupHasIommu(k, grp)) return { viable: true, container_set: true };
    const claimed = await k.call<boolean>(IOMMU_CORE, 'iommu_group_dma_owner_claimed', { group: ig });
    return { viable: !claimed, container_set: false };
  } finally {
    await k.unlock(vfioGroupLock(grp.id));
  }
});

/**
 * VFIO_GROUP_SET_CONTAINER: fdget (-EBADF); group_lock; a container or
 * iommufd already set -EINVAL; revoked -ENODEV; a container fd attaches
 * the group (claims DMA ownership: -EPERM/-EBUSY/-EINVAL), an iommufd fd
 * sets up the compat IOAS (no ownership yet); any other fd -EBADFD.
 */
export const vfioGroupSetContainer = kfunc('vfio_group_ioctl_set_container', { actor: 'vfio', source: 'drivers/vfio/group.c: vfio_group_ioctl_set_container' }, async function vfioGroupSetContainer(k: VK, grp: VfioGroup, container: string | null): Promise<Ret> {
  const other = fget(k, container);
  if (other === null) return errno('EBADF');
  const gl = underGroupLock(grp.id);
  let ret: Ret;
  await k.lock(vfioGroupLock(grp.id));
  if (await vfioGroupHasIommu(k, grp)) ret = errno('EINVAL');
  else if (k.read(grp, 'iommu_group', gl) === null) ret = errno('ENODEV');
  else if (other.kind === 'vfio-container') {
    const c = k.state.containers[other.priv];
    ret = c === undefined ? errno('EBADFD') : await vfioContainerAttachGroup(k, c, grp);
  } else if (other.kind === 'iommufd') {
    ret = await iommufdVfioCompatIoasCreate(k, other.priv);
    if (!isErrno(ret)) {
      iommufdCtxGet(k, other.priv);
      k.write(grp, 'iommufd', other.priv, gl);
    }
  } else ret = errno('EBADFD');
  await k.unlock(vfioGroupLock(grp.id));
  fput(k, other.id);
  return ret;
});

/** VFIO_GROUP_UNSET_CONTAINER: nothing set -EINVAL; a container with open devices (users != 1) -EBUSY. */
export const vfioGroupUnsetContainer = kfunc('vfio_group_ioctl_unset_container', { actor: 'vfio', source: 'drivers/vfio/group.c: vfio_group_ioctl_unset_container' }, async function vfioGroupUnsetContainer(k: VK, grp: VfioGroup): Promise<Ret> {
  const gl = underGroupLock(grp.id);
  let ret: Ret = 0;
  await k.lock(vfioGroupLock(grp.id));
  if (!(await vfioGroupHasIommu(k, grp))) ret = errno('EINVAL');
  else {
    if (k.read(grp, 'container', gl) !== null) {
      if (k.read(grp, 'container_users', gl) !== 1) ret = errno('EBUSY');
      else await vfioGroupDetachContainer(k, grp);
    }
    const ictx = k.read(grp, 'iommufd', gl);
    if (ret === 0 && ictx !== null) {
      iommufdCtxPut(k, ictx);
      k.write(grp, 'iommufd', null, gl);
    }
  }
  await k.unlock(vfioGroupLock(grp.id));
  return ret;
});
