import { defineActor } from '../../runtime/actor.ts';
import { kfunc } from '../../runtime/kfunc.ts';
import { errno } from '../../protocol/errno.ts';
import type { Errno } from '../../protocol/errno.ts';
import type { VfioMailbox } from '../../protocol/vfio.ts';
import { LOCKLESS, initialState } from './state.ts';
import type { DeviceFile, VFile, VK, VfioDevice, VfioState } from './state.ts';
import { fput, ioctl, syscall } from './files.ts';
import { groupOfFile, vfioGroupGetStatus, vfioGroupOpen, vfioGroupSetContainer, vfioGroupUnsetContainer } from './group.ts';
import { containerOfFile, vfioFopsOpen, vfioIoctlSetIommu, vfioIommuMapDma, vfioIommuUnmapDma } from './container.ts';
import { accessGranted, deviceOfFile, vfioGroupGetDeviceFd } from './device.ts';
import { vfioDeviceCdevOpen, vfioDfIoctlAttachPt, vfioDfIoctlBindIommufd, vfioDfIoctlDetachPt } from './cdev.ts';
import { vfioDeviceDma, vfioPciIoctlHotReset, vfioPciIoctlReset, vfioPciSetReqTrigger } from './pci-core.ts';
import {
  ictxOfFile, iommufdDestroy, iommufdFopsOpen, iommufdHwptAlloc, iommufdIoasAlloc, iommufdIoasMap, iommufdIoasUnmap, iommufdVfioMapDma,
  iommufdVfioSetIommu, iommufdVfioUnmapDma,
} from './iommufd.ts';
import { vfioRegisterGroupDev, vfioUnregisterGroupDev } from './registration.ts';
import { kvmDevIoctlCreateVm, kvmIoctlCreateDevice, kvmVfioSetFile } from './kvm.ts';

/**
 * The vfio actor: VFIO (drivers/vfio/: groups, containers and type1,
 * devices, the cdev path, vfio-pci's device ops) and the iommufd character
 * device it works with, plus the VFS part of the files userspace holds.
 * Handlers are thin: the kernel functions live in registration.ts,
 * group.ts, container.ts, device.ts, cdev.ts, pci-core.ts, iommufd.ts and
 * files.ts. Every entry from a process is a syscall (files.ts): deferred
 * file releases run at its end.
 *
 * An ioctl on a file of the wrong kind is -ENOTTY (the fops' default), as
 * the kernel answers a group ioctl on a device fd.
 */

const ENOTTY = (): Errno => errno('ENOTTY');

type Dev = { readonly df: DeviceFile; readonly vdev: VfioDevice };

/**
 * An ioctl the file's fops do not handle, answered as each fops' default
 * does: the group fd and iommufd -ENOTTY; the container passes it to its
 * backend (type1: -ENOTTY) or, without one, -EINVAL (vfio_fops_unl_ioctl
 * reads container->iommu_driver without a lock); a device fd -EINVAL
 * without access, else vfio_pci_core_ioctl()'s -ENOTTY.
 */
function unknownIoctl(k: VK, f: VFile): Errno {
  switch (f.kind) {
    case 'vfio-group':
    case 'iommufd':
      return ENOTTY();
    case 'vfio-container': {
      const c = containerOfFile(k, f);
      return c !== null && k.read(c, 'iommu_driver', LOCKLESS) !== null ? ENOTTY() : errno('EINVAL');
    }
    case 'vfio-device': {
      const d = deviceOfFile(k, f);
      return d !== null && accessGranted(k, d.df) ? ENOTTY() : errno('EINVAL');
    }
    case 'kvm-vm':
      // kvm_vm_ioctl() → kvm_arch_vm_ioctl(): -ENOTTY
      return ENOTTY();
    case 'kvm-device':
      // kvm_device_ioctl(): -ENOTTY for anything but the attribute ioctls
      return ENOTTY();
  }
}

/** A device fd ioctl: the file must be a device file; unless `bind`, the fd must have access (smp_load_acquire(&df->access_granted), else -EINVAL). */
function deviceIoctl<R>(k: VK, file: string, body: (d: Dev) => Promise<R | Errno>, opts: { readonly bind?: boolean; readonly cdevOnly?: boolean } = {}): Promise<R | Errno> {
  return ioctl(k, file, async (f: VFile) => {
    const d = deviceOfFile(k, f);
    if (d === null) return unknownIoctl(k, f);
    if (opts.bind !== true && !accessGranted(k, d.df)) return errno('EINVAL');
    // the cdev-only ioctls fall through to vfio_pci_core_ioctl() on a group-path fd
    if (opts.cdevOnly === true && d.df.group !== null) return ENOTTY();
    return body(d);
  });
}

/**
 * The entries a process reaches the vfio actor through, declared
 * (runtime/kfunc.ts) so that a stack reads `vfio_group_ioctl_get_status ←
 * vfio_group_fops_unl_ioctl ← VFIO_GROUP_GET_STATUS` as the kernel's does
 * (the op's frame stands for the system call). An ioctl command's handler
 * is its file kind's f_op->unlocked_ioctl, the switch on the command; the
 * commands a container and an iommufd (VFIO compat) both take are chosen
 * by the file's kind in the ioctl(2) entry itself (fs/ioctl.c vfs_ioctl),
 * so those run under `__x64_sys_ioctl`. A patch of one of these names wraps
 * every command it serves, receiving the command's body and its upstream
 * handler.
 */
type Entry = <F extends (k: VK, body: never) => unknown>(h: F) => F;
const entry = (name: string, source: string): Entry => (h) => kfunc(name, { actor: 'vfio', source }, h);
const sysOpenat = entry('__x64_sys_openat', 'fs/open.c: SYSCALL_DEFINE4(openat)');
const sysIoctl = entry('__x64_sys_ioctl', 'fs/ioctl.c: SYSCALL_DEFINE3(ioctl)');
const groupIoctl = entry('vfio_group_fops_unl_ioctl', 'drivers/vfio/group.c: vfio_group_fops_unl_ioctl');
const deviceFdIoctl = entry('vfio_device_fops_unl_ioctl', 'drivers/vfio/vfio_main.c: vfio_device_fops_unl_ioctl');
const iommufdIoctl = entry('iommufd_fops_ioctl', 'drivers/iommu/iommufd/main.c: iommufd_fops_ioctl');
const kvmVmIoctl = entry('kvm_vm_ioctl', 'virt/kvm/kvm_main.c: kvm_vm_ioctl');
const kvmDeviceIoctl = entry('kvm_device_ioctl', 'virt/kvm/kvm_main.c: kvm_device_ioctl');

export const vfio = defineActor<VfioState, VfioMailbox>('vfio', {
  state: initialState,
  handlers: {
    vfio_register_group_dev: (k, { dev }) => vfioRegisterGroupDev(k, dev),
    vfio_unregister_group_dev: (k, { dev }) => vfioUnregisterGroupDev(k, dev),

    open: sysOpenat((k, { path, proc }) => syscall(k, async (): Promise<string | Errno> => {
      switch (path.kind) {
        case 'group':
          return vfioGroupOpen(k, path.dev, proc);
        case 'container':
          return vfioFopsOpen(k, proc);
        case 'iommufd':
          return iommufdFopsOpen(k, proc);
        case 'cdev':
          return vfioDeviceCdevOpen(k, path.dev, proc);
        case 'kvm':
          return kvmDevIoctlCreateVm(k, proc);
      }
    })),

    fput: (k, { file }) => syscall(k, async (): Promise<0 | Errno> => {
      if (k.state.files[file] === undefined) return errno('EBADF');
      fput(k, file);
      return 0;
    }),

    // ---- group fd ----
    VFIO_GROUP_GET_STATUS: groupIoctl((k, { file }) => ioctl(k, file, async (f) => {
      const grp = groupOfFile(k, f);
      return grp === null ? unknownIoctl(k, f) : vfioGroupGetStatus(k, grp);
    })),
    VFIO_GROUP_SET_CONTAINER: groupIoctl((k, { file, container }) => ioctl(k, file, async (f) => {
      const grp = groupOfFile(k, f);
      return grp === null ? unknownIoctl(k, f) : vfioGroupSetContainer(k, grp, container);
    })),
    VFIO_GROUP_UNSET_CONTAINER: groupIoctl((k, { file }) => ioctl(k, file, async (f) => {
      const grp = groupOfFile(k, f);
      return grp === null ? unknownIoctl(k, f) : vfioGroupUnsetContainer(k, grp);
    })),
    VFIO_GROUP_GET_DEVICE_FD: groupIoctl((k, { file, dev }) => ioctl(k, file, async (f) => {
      const grp = groupOfFile(k, f);
      return grp === null ? unknownIoctl(k, f) : vfioGroupGetDeviceFd(k, grp, dev, f.proc);
    })),

    // ---- container fd (or an iommufd in VFIO compat mode) ----
    VFIO_SET_IOMMU: sysIoctl((k, { file, type }) => ioctl(k, file, async (f) => {
      const c = containerOfFile(k, f);
      if (c !== null) return vfioIoctlSetIommu(k, c, type);
      const ictx = ictxOfFile(k, f);
      return ictx === null ? unknownIoctl(k, f) : iommufdVfioSetIommu(k, ictx, type !== 'VFIO_SPAPR_TCE_IOMMU');
    })),
    VFIO_IOMMU_MAP_DMA: sysIoctl((k, { file, iova, page }) => ioctl(k, file, async (f) => {
      const c = containerOfFile(k, f);
      if (c !== null) return vfioIommuMapDma(k, c, iova, page);
      const ictx = ictxOfFile(k, f);
      return ictx === null ? unknownIoctl(k, f) : iommufdVfioMapDma(k, ictx, iova, page);
    })),
    VFIO_IOMMU_UNMAP_DMA: sysIoctl((k, { file, iova }) => ioctl(k, file, async (f) => {
      const c = containerOfFile(k, f);
      if (c !== null) return vfioIommuUnmapDma(k, c, iova);
      const ictx = ictxOfFile(k, f);
      return ictx === null ? unknownIoctl(k, f) : iommufdVfioUnmapDma(k, ictx, iova);
    })),

    // ---- device fd ----
    VFIO_DEVICE_BIND_IOMMUFD: deviceFdIoctl((k, { file, iommufd }) => deviceIoctl(k, file, ({ df, vdev }) => vfioDfIoctlBindIommufd(k, df, vdev, iommufd), { bind: true })),
    VFIO_DEVICE_ATTACH_IOMMUFD_PT: deviceFdIoctl((k, { file, pt, pasid }) => deviceIoctl(k, file, ({ vdev }) => vfioDfIoctlAttachPt(k, vdev, pt, pasid ?? 0), { cdevOnly: true })),
    VFIO_DEVICE_DETACH_IOMMUFD_PT: deviceFdIoctl((k, { file, pasid }) => deviceIoctl(k, file, ({ vdev }) => vfioDfIoctlDetachPt(k, vdev, pasid ?? 0), { cdevOnly: true })),
    VFIO_DEVICE_RESET: deviceFdIoctl((k, { file }) => deviceIoctl(k, file, ({ vdev }) => vfioPciIoctlReset(k, vdev))),
    VFIO_DEVICE_PCI_HOT_RESET: deviceFdIoctl((k, { file, groups }) => deviceIoctl(k, file, ({ df, vdev }) => vfioPciIoctlHotReset(k, df, vdev, groups))),
    VFIO_DEVICE_SET_IRQS: deviceFdIoctl((k, { file, proc }) => deviceIoctl(k, file, ({ vdev }) => vfioPciSetReqTrigger(k, vdev, proc, file))),
    device_dma: (k, { file, iova, pasid, write }) => deviceIoctl(k, file, ({ vdev }) => vfioDeviceDma(k, vdev, iova, pasid ?? null, write ?? true)),

    // ---- iommufd ----
    IOMMU_IOAS_ALLOC: iommufdIoctl((k, { file }) => ioctl(k, file, async (f) => {
      const c = ictxOfFile(k, f);
      return c === null ? unknownIoctl(k, f) : iommufdIoasAlloc(k, c);
    })),
    IOMMU_IOAS_MAP: iommufdIoctl((k, { file, ioas, iova, page }) => ioctl(k, file, async (f) => {
      const c = ictxOfFile(k, f);
      return c === null ? unknownIoctl(k, f) : iommufdIoasMap(k, c, ioas, iova, page);
    })),
    IOMMU_IOAS_UNMAP: iommufdIoctl((k, { file, ioas, iova }) => ioctl(k, file, async (f) => {
      const c = ictxOfFile(k, f);
      return c === null ? unknownIoctl(k, f) : iommufdIoasUnmap(k, c, ioas, iova);
    })),
    IOMMU_HWPT_ALLOC: iommufdIoctl((k, { file, devid, pt, pasid }) => ioctl(k, file, async (f) => {
      const c = ictxOfFile(k, f);
      return c === null ? unknownIoctl(k, f) : iommufdHwptAlloc(k, c, devid, pt, pasid === true);
    })),
    IOMMU_DESTROY: iommufdIoctl((k, { file, id }) => ioctl(k, file, async (f) => {
      const c = ictxOfFile(k, f);
      return c === null ? unknownIoctl(k, f) : iommufdDestroy(k, c, id);
    })),

    // ---- KVM (actors/vfio/kvm.ts) ----
    KVM_CREATE_DEVICE: kvmVmIoctl((k, { file, type }) => ioctl(k, file, async (f) => (f.kind === 'kvm-vm' ? kvmIoctlCreateDevice(k, f, type) : unknownIoctl(k, f)))),
    KVM_SET_DEVICE_ATTR: kvmDeviceIoctl((k, { file, attr, vfio: other }) => ioctl(k, file, async (f) => (f.kind === 'kvm-device' ? kvmVfioSetFile(k, f, attr, other) : unknownIoctl(k, f)))),
  },

  inspect: (s) => ({
    groups: Object.values(s.groups).map((g) => ({ ...g })),
    devices: Object.values(s.devices).map((d) => ({ ...d })),
    devSets: Object.values(s.devSets).map((d) => ({ ...d })),
    files: Object.values(s.files).map((f) => ({ ...f })),
    containers: Object.values(s.containers).map((c) => ({ ...c })),
    iommus: Object.values(s.iommus).map((i) => ({ ...i })),
    ictxs: Object.values(s.ictxs).map((c) => ({ ...c })),
    ioas: Object.values(s.ioas).map((i) => ({ ...i })),
    hwpts: Object.values(s.hwpts).map((h) => ({ ...h })),
    igroups: Object.values(s.igroups).map((g) => ({ ...g })),
    idevs: Object.values(s.idevs).map((d) => ({ ...d })),
    cdevs: s.cdevs.nodes,
    kvms: Object.values(s.kvms).map((v) => ({ ...v })),
    kvmVfios: Object.values(s.kvmVfios).map((v) => ({ ...v })),
    dfs: Object.values(s.dfs).map((d) => ({ ...d })),
  }),
});

export default vfio;
