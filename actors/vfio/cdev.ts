import { errno, isErrno } from '../../protocol/errno.ts';
import type { Errno } from '../../protocol/errno.ts';
import { LOCKLESS, chrdevsLock, devSetLock, underChrdevs, underDevSet } from './state.ts';
import type { DeviceFile, VK, VfioDevice } from './state.ts';
import { allocFile, fget, fput } from './files.ts';
import { allocDeviceFile, tryGetRegistration, vfioDeviceBlockGroup, vfioDeviceUnblockGroup, vfioDfOpen } from './device.ts';
import { iommufdCtxGet, iommufdCtxPut, vfioIommufdAttachIoas, vfioIommufdDetachIoas } from './iommufd.ts';
import { kfunc } from '../../runtime/kfunc.ts';

/**
 * The device cdev path (drivers/vfio/device_cdev.c; docs/kernel-facts.md
 * §4.2): open("/dev/vfio/devices/vfioN") takes a registration reference
 * only; VFIO_DEVICE_BIND_IOMMUFD blocks the group path (a group fd open
 * -EBUSY) and opens the device with the iommufd as DMA owner;
 * ATTACH/DETACH_IOMMUFD_PT under dev_set->lock.
 */

type Ret = 0 | Errno;

/** The device node of a registered vfio device (vfio_device_add / vfio_device_del). */
export const cdevNode = (dev: string): string => `/dev/vfio/devices/${dev}`;

/**
 * vfio_device_fops_cdev_open(): the registration reference (-ENODEV when
 * the device is being unregistered); no access until BIND_IOMMUFD. The
 * model takes the node lookup and the reference together under
 * chrdevs_lock (the kernel's cdev reference keeps the vfio_device memory
 * alive in between); no node: -ENOENT.
 */
export const vfioDeviceCdevOpen = kfunc('vfio_device_fops_cdev_open', { actor: 'vfio', source: 'drivers/vfio/device_cdev.c: vfio_device_fops_cdev_open' }, async function vfioDeviceCdevOpen(k: VK, dev: string, proc: string): Promise<string | Errno> {
  await k.lock(chrdevsLock());
  const id = k.read(k.state.cdevs, 'nodes', underChrdevs())[cdevNode(dev)];
  const vdev = id === undefined ? undefined : k.state.devices[id];
  const got = vdev !== undefined && tryGetRegistration(k, vdev);
  await k.unlock(chrdevsLock());
  if (vdev === undefined) return errno('ENOENT');
  if (!got) return errno('ENODEV');
  const df = allocDeviceFile(k, vdev, null);
  return allocFile(k, 'vfio-device', df.id, proc).id;
});

/**
 * VFIO_DEVICE_BIND_IOMMUFD (vfio_df_ioctl_bind_iommufd): a group-path fd
 * -EINVAL; vfio_device_block_group() (-EBUSY with the group fd open);
 * dev_set->lock; bound already -EINVAL; the iommufd fd (-EBADF not open,
 * -EBADFD not an iommufd); vfio_df_open() (cdev: exclusive, -EINVAL when
 * the device is open; the bind claims DMA ownership: -EPERM); then
 * access_granted. Replies the devid.
 */
export const vfioDfIoctlBindIommufd = kfunc('vfio_df_ioctl_bind_iommufd', { actor: 'vfio', source: 'drivers/vfio/device_cdev.c: vfio_df_ioctl_bind_iommufd' }, async function vfioDfIoctlBindIommufd(k: VK, df: DeviceFile, vdev: VfioDevice, iommufd: string | null): Promise<string | Errno> {
  if (df.group !== null) return errno('EINVAL');
  const blocked = await vfioDeviceBlockGroup(k, vdev);
  if (isErrno(blocked)) return blocked;
  const sl = underDevSet(vdev.dev_set);
  let ret: Ret = 0;
  let devid: string | null = null;
  await k.lock(devSetLock(vdev.dev_set));
  if (k.read(df, 'access_granted', LOCKLESS)) ret = errno('EINVAL');
  else {
    const f = fget(k, iommufd);
    if (f === null) ret = errno('EBADF');
    else if (f.kind !== 'iommufd') ret = errno('EBADFD');
    else {
      const ictx = f.priv;
      iommufdCtxGet(k, ictx);
      k.write(df, 'iommufd', ictx, sl);
      ret = await vfioDfOpen(k, df);
      if (isErrno(ret)) {
        iommufdCtxPut(k, ictx);
        k.write(df, 'iommufd', null, sl);
      } else {
        devid = k.read(df, 'devid', sl);
        k.write(vdev, 'cdev_opened', true, sl);
        k.write(df, 'access_granted', true, LOCKLESS);
      }
    }
    if (f !== null) fput(k, f.id);
  }
  await k.unlock(devSetLock(vdev.dev_set));
  if (isErrno(ret)) {
    await vfioDeviceUnblockGroup(k, vdev);
    return ret;
  }
  return devid ?? errno('EINVAL');
});

/** VFIO_DEVICE_ATTACH_IOMMUFD_PT (vfio_df_ioctl_attach_pt): dev_set->lock → attach_ioas / pasid_attach_ioas. Replies the HWPT id. */
export const vfioDfIoctlAttachPt = kfunc('vfio_df_ioctl_attach_pt', { actor: 'vfio', source: 'drivers/vfio/device_cdev.c: vfio_df_ioctl_attach_pt' }, async function vfioDfIoctlAttachPt(k: VK, vdev: VfioDevice, pt: string, pasid: number): Promise<string | Errno> {
  await k.lock(devSetLock(vdev.dev_set));
  try {
    return await vfioIommufdAttachIoas(k, vdev, pt, pasid);
  } finally {
    await k.unlock(devSetLock(vdev.dev_set));
  }
});

/** VFIO_DEVICE_DETACH_IOMMUFD_PT (vfio_df_ioctl_detach_pt): dev_set->lock → detach_ioas / pasid_detach_ioas; always 0. */
export const vfioDfIoctlDetachPt = kfunc('vfio_df_ioctl_detach_pt', { actor: 'vfio', source: 'drivers/vfio/device_cdev.c: vfio_df_ioctl_detach_pt' }, async function vfioDfIoctlDetachPt(k: VK, vdev: VfioDevice, pasid: number): Promise<Ret> {
  await k.lock(devSetLock(vdev.dev_set));
  try {
    return await vfioIommufdDetachIoas(k, vdev, pasid);
  } finally {
    await k.unlock(devSetLock(vdev.dev_set));
  }
});
