import { errno, isErrno } from '../../protocol/errno.ts';
import type { Errno } from '../../protocol/errno.ts';
import {
  LOCKLESS, allocObj, asObj, atomic, devSetLock, initFields, underDevSet, underGroupDeviceLock, underGroupLock, vfioDeviceComp, vfioGroupDeviceLock,
  vfioGroupLock,
} from './state.ts';
import type { DeviceFile, VFile, VK, VfioDevice, VfioGroup } from './state.ts';
import { allocFile, fput, getFile } from './files.ts';
import { vfioGroupHasIommu } from './group.ts';
import { vfioPciCoreCloseDevice, vfioPciCoreOpenDevice } from './pci-core.ts';
import { iommufdCtxPut, vfioIommufdBind, vfioIommufdCompatAttachIoas, vfioIommufdUnbind } from './iommufd.ts';
import { vfioDfGroupGetKvm, vfioDfGroupPutKvm } from './kvm.ts';
import { kfunc } from '../../runtime/kfunc.ts';

/**
 * VFIO devices and their fds (drivers/vfio/vfio_main.c, group.c;
 * docs/kernel-facts.md §4.1 steps 5–7, §2.5): the registration refcount
 * and its completion, vfio_df_open()/vfio_df_close() under dev_set->lock,
 * the group path's VFIO_GROUP_GET_DEVICE_FD (group_lock → dev_set->lock,
 * §1.2 edge 15) and the release of a device fd. Every open fd holds a
 * registration reference; the last put completes vfio_device->comp, which
 * vfio_unregister_group_dev() waits for.
 */

type Ret = 0 | Errno;

/** vfio_device_try_get_registration(): refcount_inc_not_zero. */
export const tryGetRegistration = kfunc('vfio_device_try_get_registration', { actor: 'vfio', source: 'drivers/vfio/vfio_main.c: vfio_device_try_get_registration' }, function tryGetRegistration(k: VK, vdev: VfioDevice): boolean {
  const n = k.read(vdev, 'refcount', atomic());
  if (n === 0) return false;
  k.write(vdev, 'refcount', n + 1, atomic());
  return true;
});

/** vfio_device_put_registration(): the last put completes device->comp. Returns the count left. */
export const putRegistration = kfunc('vfio_device_put_registration', { actor: 'vfio', source: 'drivers/vfio/vfio_main.c: vfio_device_put_registration' }, async function putRegistration(k: VK, vdev: VfioDevice): Promise<number> {
  const n = k.read(vdev, 'refcount', atomic()) - 1;
  k.write(vdev, 'refcount', n, atomic());
  if (n === 0) await k.complete(vfioDeviceComp(vdev.id));
  return n;
});

/** vfio_allocate_device_file(). */
export const allocDeviceFile = kfunc('vfio_allocate_device_file', { actor: 'vfio', source: 'drivers/vfio/vfio_main.c: vfio_allocate_device_file' }, function allocDeviceFile(k: VK, vdev: VfioDevice, group: string | null): DeviceFile {
  const id = allocObj(k, 'vfio_device_file', 'df');
  const df: DeviceFile = { id, device: vdev.id, group, access_granted: false, iommufd: null, devid: null, kvm: null };
  k.state.dfs[id] = df;
  initFields(k, df, ['device']);
  return df;
});

function freeDeviceFile(k: VK, df: DeviceFile): void {
  delete k.state.dfs[df.id];
  k.free(df.id);
}

/**
 * vfio_df_open(), under dev_set->lock: only the group path may open a
 * device more than once (cdev: -EINVAL); the first open binds iommufd
 * (device DMA ownership with the iommufd_ctx as owner) or uses the group's
 * container (no backend: -EINVAL; pins the group file), then
 * ops->open_device (vfio-pci: enable with a try-reset, -EAGAIN on
 * contention).
 */
export const vfioDfOpen = kfunc('vfio_df_open', { actor: 'vfio', source: 'drivers/vfio/vfio_main.c: vfio_df_open' }, async function vfioDfOpen(k: VK, df: DeviceFile): Promise<Ret> {
  const vdev = k.state.devices[df.device] as VfioDevice;
  const sl = underDevSet(vdev.dev_set);
  await k.assertHeld(devSetLock(vdev.dev_set));
  const count = k.read(vdev, 'open_count', sl);
  if (count !== 0 && df.group === null) return errno('EINVAL');
  k.write(vdev, 'open_count', count + 1, sl);
  if (count !== 0) return 0;
  const ret = await firstOpen(k, vdev, df);
  if (isErrno(ret)) k.write(vdev, 'open_count', k.read(vdev, 'open_count', sl) - 1, sl);
  return ret;
});

/** vfio_df_device_first_open(): try_module_get(driver) cannot fail here (vfio-pci is bound while registered). */
const firstOpen = kfunc('vfio_df_device_first_open', { actor: 'vfio', source: 'drivers/vfio/vfio_main.c: vfio_df_device_first_open' }, async function firstOpen(k: VK, vdev: VfioDevice, df: DeviceFile): Promise<Ret> {
  const ictx = k.read(df, 'iommufd', underDevSet(vdev.dev_set));
  const used = ictx !== null ? await vfioIommufdBind(k, vdev, df, ictx) : await groupUseIommu(k, vdev);
  if (isErrno(used)) return used;
  const ret = await vfioPciCoreOpenDevice(k, vdev);
  if (isErrno(ret)) {
    if (ictx !== null) await vfioIommufdUnbind(k, vdev);
    else groupUnuseIommu(k, vdev);
  }
  return ret;
});

/**
 * vfio_device_group_use_iommu() → vfio_group_use_container(), under
 * group_lock: the container must have a backend (-EINVAL); a user of the
 * container and a reference on the group file. container->iommu_driver is
 * read without container->group_lock, as the kernel does.
 */
const groupUseIommu = kfunc('vfio_device_group_use_iommu', { actor: 'vfio', source: 'drivers/vfio/group.c: vfio_device_group_use_iommu' }, async function groupUseIommu(k: VK, vdev: VfioDevice): Promise<Ret> {
  const grp = k.state.groups[vdev.group] as VfioGroup;
  const gl = underGroupLock(grp.id);
  await k.assertHeld(vfioGroupLock(grp.id));
  const cid = k.read(grp, 'container', gl);
  if (cid === null) {
    k.warn(`vfio_device_group_use_iommu: WARN_ON(!group->container) for ${grp.id}`);
    return errno('EINVAL');
  }
  const c = k.state.containers[cid];
  if (c === undefined || k.read(c, 'iommu_driver', LOCKLESS) === null) return errno('EINVAL');
  const file = k.read(grp, 'opened_file', gl);
  if (file !== null) getFile(k, file);
  k.write(grp, 'container_users', k.read(grp, 'container_users', gl) + 1, gl);
  return 0;
});

/** vfio_device_group_unuse_iommu() → vfio_group_unuse_container(): the group file's reference goes (its release waits for the syscall's end). */
const groupUnuseIommu = kfunc('vfio_device_group_unuse_iommu', { actor: 'vfio', source: 'drivers/vfio/group.c: vfio_device_group_unuse_iommu' }, function groupUnuseIommu(k: VK, vdev: VfioDevice): void {
  const grp = k.state.groups[vdev.group] as VfioGroup;
  const gl = underGroupLock(grp.id);
  const users = k.read(grp, 'container_users', gl);
  if (users <= 1) k.warn(`vfio_group_unuse_container: WARN_ON(group->container_users <= 1) for ${grp.id}`);
  k.write(grp, 'container_users', users - 1, gl);
  const file = k.read(grp, 'opened_file', gl);
  if (file !== null) fput(k, file);
});

/** vfio_df_close(), under dev_set->lock: the last close runs ops->close_device, then unbinds iommufd or stops using the container. */
const vfioDfClose = kfunc('vfio_df_close', { actor: 'vfio', source: 'drivers/vfio/vfio_main.c: vfio_df_close' }, async function vfioDfClose(k: VK, df: DeviceFile): Promise<void> {
  const vdev = k.state.devices[df.device] as VfioDevice;
  const sl = underDevSet(vdev.dev_set);
  await k.assertHeld(devSetLock(vdev.dev_set));
  const count = k.read(vdev, 'open_count', sl);
  if (count === 0) {
    k.warn(`vfio_assert_device_open: WARN_ON_ONCE(!device->open_count) for ${vdev.id}`);
    return;
  }
  if (count === 1) {
    await vfioPciCoreCloseDevice(k, vdev);
    if (k.read(df, 'iommufd', sl) !== null) await vfioIommufdUnbind(k, vdev);
    else groupUnuseIommu(k, vdev);
  }
  k.write(vdev, 'open_count', count - 1, sl);
});

/**
 * VFIO_GROUP_GET_DEVICE_FD: vfio_device_get_from_name() under
 * group->device_lock takes a registration reference (a device being
 * unregistered is off the list: -ENODEV); vfio_df_group_open():
 * group_lock; no container/iommufd -EINVAL; dev_set->lock; vfio_df_open();
 * with iommufd, the first open also attaches the compat IOAS;
 * access_granted is published last.
 */
export const vfioGroupGetDeviceFd = kfunc('vfio_group_ioctl_get_device_fd', { actor: 'vfio', source: 'drivers/vfio/group.c: vfio_group_ioctl_get_device_fd' }, async function vfioGroupGetDeviceFd(k: VK, grp: VfioGroup, dev: string, proc: string): Promise<string | Errno> {
  await k.lock(vfioGroupDeviceLock(grp.id));
  let vdev: VfioDevice | null = null;
  for (const id of k.read(grp, 'device_list', underGroupDeviceLock(grp.id))) {
    const v = k.state.devices[id];
    if (v !== undefined && v.dev === dev && tryGetRegistration(k, v)) {
      vdev = v;
      break;
    }
  }
  await k.unlock(vfioGroupDeviceLock(grp.id));
  if (vdev === null) return errno('ENODEV');

  const df = allocDeviceFile(k, vdev, grp.id);
  const ret = await vfioDfGroupOpen(k, grp, vdev, df);
  if (isErrno(ret)) {
    freeDeviceFile(k, df);
    await putRegistration(k, vdev);
    return ret;
  }
  return allocFile(k, 'vfio-device', df.id, proc).id;
});

const vfioDfGroupOpen = kfunc('vfio_df_group_open', { actor: 'vfio', source: 'drivers/vfio/group.c: vfio_df_group_open' }, async function vfioDfGroupOpen(k: VK, grp: VfioGroup, vdev: VfioDevice, df: DeviceFile): Promise<Ret> {
  const sl = underDevSet(vdev.dev_set);
  await k.lock(vfioGroupLock(grp.id));
  try {
    if (!(await vfioGroupHasIommu(k, grp))) return errno('EINVAL');
    await k.lock(devSetLock(vdev.dev_set));
    try {
      // "Before the first device open, get the KVM pointer currently associated with the group (if there is one)
      // and obtain a reference now that will be held until the open_count reaches 0 again" (actors/vfio/kvm.ts)
      if (k.read(vdev, 'open_count', sl) === 0) await vfioDfGroupGetKvm(k, grp, vdev);
      const ictx = k.read(grp, 'iommufd', underGroupLock(grp.id));
      k.write(df, 'iommufd', ictx, sl);
      let ret = await vfioDfOpen(k, df);
      if (!isErrno(ret) && ictx !== null && k.read(vdev, 'open_count', sl) === 1) {
        ret = await vfioIommufdCompatAttachIoas(k, vdev, ictx);
        if (isErrno(ret)) await vfioDfClose(k, df);
      }
      if (isErrno(ret)) {
        k.write(df, 'iommufd', null, sl);
        // out_put_kvm:
        if (k.read(vdev, 'open_count', sl) === 0) await vfioDfGroupPutKvm(k, vdev);
        return ret;
      }
      k.write(df, 'access_granted', true, LOCKLESS);
      return 0;
    } finally {
      await k.unlock(devSetLock(vdev.dev_set));
    }
  } finally {
    await k.unlock(vfioGroupLock(grp.id));
  }
});

/** vfio_df_group_close(): group_lock → dev_set->lock → vfio_df_close(); the last close drops the KVM reference. */
const vfioDfGroupClose = kfunc('vfio_df_group_close', { actor: 'vfio', source: 'drivers/vfio/group.c: vfio_df_group_close' }, async function vfioDfGroupClose(k: VK, df: DeviceFile, grp: VfioGroup, vdev: VfioDevice): Promise<void> {
  await k.lock(vfioGroupLock(grp.id));
  await k.lock(devSetLock(vdev.dev_set));
  await vfioDfClose(k, df);
  k.write(df, 'iommufd', null, underDevSet(vdev.dev_set));
  if (k.read(vdev, 'open_count', underDevSet(vdev.dev_set)) === 0) await vfioDfGroupPutKvm(k, vdev);
  await k.unlock(devSetLock(vdev.dev_set));
  await k.unlock(vfioGroupLock(grp.id));
});

/**
 * vfio_df_unbind_iommufd() for a cdev fd: nothing to do unless it bound;
 * dev_set->lock → vfio_df_close() → unlock → vfio_device_unblock_group().
 */
const vfioDfUnbindIommufd = kfunc('vfio_df_unbind_iommufd', { actor: 'vfio', source: 'drivers/vfio/device_cdev.c: vfio_df_unbind_iommufd' }, async function vfioDfUnbindIommufd(k: VK, df: DeviceFile, vdev: VfioDevice): Promise<void> {
  // "no contention with another one changing this flag": read without the lock
  if (!k.read(df, 'access_granted', LOCKLESS)) return;
  const sl = underDevSet(vdev.dev_set);
  await k.lock(devSetLock(vdev.dev_set));
  await vfioDfClose(k, df);
  const ictx = k.read(df, 'iommufd', sl);
  if (ictx !== null) iommufdCtxPut(k, ictx);
  k.write(vdev, 'cdev_opened', false, sl);
  await k.unlock(devSetLock(vdev.dev_set));
  await vfioDeviceUnblockGroup(k, vdev);
});

/** vfio_device_block_group(): a group fd is open -EBUSY; else one more cdev user of the group. */
export const vfioDeviceBlockGroup = kfunc('vfio_device_block_group', { actor: 'vfio', source: 'drivers/vfio/group.c: vfio_device_block_group' }, async function vfioDeviceBlockGroup(k: VK, vdev: VfioDevice): Promise<Ret> {
  const grp = k.state.groups[vdev.group] as VfioGroup;
  const gl = underGroupLock(grp.id);
  await k.lock(vfioGroupLock(grp.id));
  let ret: Ret = 0;
  if (k.read(grp, 'opened_file', gl) !== null) ret = errno('EBUSY');
  else k.write(grp, 'cdev_device_open_cnt', k.read(grp, 'cdev_device_open_cnt', gl) + 1, gl);
  await k.unlock(vfioGroupLock(grp.id));
  return ret;
});

export const vfioDeviceUnblockGroup = kfunc('vfio_device_unblock_group', { actor: 'vfio', source: 'drivers/vfio/group.c: vfio_device_unblock_group' }, async function vfioDeviceUnblockGroup(k: VK, vdev: VfioDevice): Promise<void> {
  const grp = k.state.groups[vdev.group] as VfioGroup;
  const gl = underGroupLock(grp.id);
  await k.lock(vfioGroupLock(grp.id));
  k.write(grp, 'cdev_device_open_cnt', k.read(grp, 'cdev_device_open_cnt', gl) - 1, gl);
  await k.unlock(vfioGroupLock(grp.id));
});

/** vfio_device_fops_release(): close the df (group or cdev path), drop its registration reference, free it. */
export const vfioDeviceFopsRelease = kfunc('vfio_device_fops_release', { actor: 'vfio', source: 'drivers/vfio/vfio_main.c: vfio_device_fops_release' }, async function vfioDeviceFopsRelease(k: VK, f: VFile): Promise<void> {
  const df = k.state.dfs[f.priv];
  if (df === undefined) return;
  const vdev = k.state.devices[df.device];
  if (vdev === undefined) {
    k.use(asObj(df.device), 'vfio_device_fops_release');
    return;
  }
  k.use(vdev.id, 'vfio_device_fops_release');
  if (df.group !== null) {
    const grp = k.state.groups[df.group];
    if (grp !== undefined) await vfioDfGroupClose(k, df, grp, vdev);
  } else {
    await vfioDfUnbindIommufd(k, df, vdev);
  }
  await putRegistration(k, vdev);
  freeDeviceFile(k, df);
});

/**
 * The df of a device file and its device, for a device fd ioctl; null when
 * the file is another kind. `granted`: smp_load_acquire(&df->access_granted).
 */
export function deviceOfFile(k: VK, f: VFile): { readonly df: DeviceFile; readonly vdev: VfioDevice } | null {
  if (f.kind !== 'vfio-device') return null;
  const df = k.state.dfs[f.priv];
  if (df === undefined) return null;
  const vdev = k.state.devices[df.device];
  if (vdev === undefined) {
    k.use(asObj(df.device), 'vfio_device_fops_unl_ioctl');
    return null;
  }
  k.use(vdev.id, 'vfio_device_fops_unl_ioctl');
  return { df, vdev };
}

export const accessGranted = (k: VK, df: DeviceFile): boolean => k.read(df, 'access_granted', LOCKLESS);
