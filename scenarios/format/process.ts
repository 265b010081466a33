import type { ProcIoctl, ProcOp } from '../../protocol/vfio.ts';
import type { FieldType } from './ops.ts';

/**
 * Userspace processes in a scenario document (`processes`): VFIO users such
 * as QEMU, each a program of ops run in order in its own task (the
 * ProcessSpec of protocol/vfio.ts; docs/vfio.md "Userspace processes").
 *
 *   { "name": "qemu", "onRequest": "close", "stay": false,
 *     "ops": [ { "op": "vfio.group.open", "dev": "0000:02:00.0", "as": "group" },
 *              { "op": "vfio.container.open", "as": "container" },
 *              { "op": "ioctl", "fd": "group", "cmd": "VFIO_GROUP_SET_CONTAINER", "container": "container" },
 *              { "op": "driver.unbind", "dev": "0000:02:00.1", "driver": "nic" } ] }
 *
 * A task op (`driver.unbind`, `pci.reset_function`, ...) in a process is a
 * sysfs write the process makes. An `fd` field must name an fd an earlier op
 * of the same process opened (a typo would otherwise run as -EBADF).
 */

/** Field types of process ops besides the task ops' ones. */
export type ProcFieldType = FieldType | 'fd' | 'fds' | 'iommu-type' | 'irq-index' | 'kvm-device-type' | 'kvm-vfio-attr';

export interface ProcOpSpec {
  readonly name: string;
  readonly summary: string;
  readonly fields: Readonly<Record<string, ProcFieldType>>;
}

export const PROCESS_OPS: readonly ProcOpSpec[] = [
  { name: 'vfio.group.open', summary: 'open /dev/vfio/$GROUP, the group `dev` is in (readlink /sys/bus/pci/devices/<dev>/iommu_group); the fd is named `as`', fields: { dev: 'dev', as: 'string' } },
  { name: 'vfio.container.open', summary: 'open /dev/vfio/vfio (a legacy container); the fd is named `as`', fields: { as: 'string' } },
  { name: 'vfio.cdev.open', summary: 'open /dev/vfio/devices/vfioN of `dev` (the cdev path); the fd is named `as`', fields: { dev: 'dev', as: 'string' } },
  { name: 'iommufd.open', summary: 'open /dev/iommu; the fd is named `as`', fields: { as: 'string' } },
  { name: 'kvm.create_vm', summary: 'open /dev/kvm and KVM_CREATE_VM: a VM (struct kvm); its fd is named `as`', fields: { as: 'string' } },
  { name: 'fd.close', summary: 'close(2) the fd `fd` (the last reference runs ->release)', fields: { fd: 'fd' } },
  { name: 'ioctl', summary: 'an ioctl `cmd` on `fd` with the command\'s fields (see the ioctl list); `as` names its result', fields: { fd: 'fd', cmd: 'string', 'as?': 'string' } },
  { name: 'vfio.dma', summary: 'the device behind device fd `fd` DMAs at `iova` (optionally on `pasid`; `write` defaults to true)', fields: { fd: 'fd', iova: 'number', 'pasid?': 'number', 'write?': 'bool' } },
  { name: 'proc.post', summary: 'post the userspace event `event` (a pipe write another process waits for)', fields: { event: 'string' } },
  { name: 'proc.wait', summary: 'wait until `event` is posted', fields: { event: 'string' } },
  { name: 'proc.exit', summary: 'exit(2): the exiting task closes the fd table in ascending fd order, then runs the releases (last queued first); later ops do not run', fields: {} },
  { name: 'proc.close_all', summary: 'every open fd closed by a thread of its own, concurrently (the scheduler picks the order)', fields: {} },
  { name: 'proc.yield', summary: 'a preemption point', fields: {} },
];

/** The ioctls an `ioctl` op may make, with their fields (protocol/vfio.ts ProcIoctl). */
export const IOCTLS: Readonly<Record<ProcIoctl['cmd'], { readonly summary: string; readonly fields: Readonly<Record<string, ProcFieldType>> }>> = {
  VFIO_GROUP_GET_STATUS: { summary: 'group fd: viable / container_set', fields: {} },
  VFIO_GROUP_SET_CONTAINER: { summary: 'group fd: join the container (or iommufd) fd `container`; the group\'s DMA ownership is claimed', fields: { container: 'fd' } },
  VFIO_GROUP_UNSET_CONTAINER: { summary: 'group fd: leave the container', fields: {} },
  VFIO_GROUP_GET_DEVICE_FD: { summary: 'group fd: a device fd for `dev`, named `as` (default: the device name)', fields: { dev: 'dev' } },
  VFIO_SET_IOMMU: { summary: 'container fd: pick the backend (default VFIO_TYPE1v2_IOMMU)', fields: { 'type?': 'iommu-type' } },
  VFIO_IOMMU_MAP_DMA: { summary: 'container (or iommufd compat) fd: map the process page `vaddr` at `iova`', fields: { iova: 'number', vaddr: 'number' } },
  VFIO_IOMMU_UNMAP_DMA: { summary: 'container fd: unmap `iova`', fields: { iova: 'number' } },
  VFIO_DEVICE_BIND_IOMMUFD: { summary: 'cdev fd: bind to the iommufd fd `iommufd`; `as` names the devid', fields: { iommufd: 'fd' } },
  VFIO_DEVICE_ATTACH_IOMMUFD_PT: { summary: 'cdev fd: attach to the IOAS/HWPT `pt` (a result name), optionally on `pasid`', fields: { pt: 'string', 'pasid?': 'number' } },
  VFIO_DEVICE_DETACH_IOMMUFD_PT: { summary: 'cdev fd: detach (optionally only `pasid`)', fields: { 'pasid?': 'number' } },
  VFIO_DEVICE_RESET: { summary: 'device fd: a function reset', fields: {} },
  VFIO_DEVICE_PCI_HOT_RESET: { summary: 'device fd: a bus/slot reset proving ownership with the group fds `groups`', fields: { 'groups?': 'fds' } },
  VFIO_DEVICE_SET_IRQS: { summary: 'device fd: the device-request eventfd (index REQ)', fields: { index: 'irq-index' } },
  IOMMU_IOAS_ALLOC: { summary: 'iommufd fd: a new IOAS, named `as`', fields: {} },
  IOMMU_IOAS_MAP: { summary: 'iommufd fd: map the process page `vaddr` at `iova` in IOAS `ioas`', fields: { ioas: 'string', iova: 'number', vaddr: 'number' } },
  IOMMU_IOAS_UNMAP: { summary: 'iommufd fd: unmap `iova` from IOAS `ioas`', fields: { ioas: 'string', iova: 'number' } },
  IOMMU_HWPT_ALLOC: { summary: 'iommufd fd: a HWPT_PAGING for `devid` on `pt` (`pasid`: IOMMU_HWPT_ALLOC_PASID), named `as`', fields: { devid: 'string', pt: 'string', 'pasid?': 'bool' } },
  IOMMU_DESTROY: { summary: 'iommufd fd: destroy the object `id`', fields: { id: 'string' } },
  KVM_CREATE_DEVICE: { summary: 'VM fd: create a KVM device (`type`, default KVM_DEV_TYPE_VFIO: the KVM VFIO pseudo-device), its fd named `as` (default "kvm-vfio")', fields: { 'type?': 'kvm-device-type' } },
  KVM_SET_DEVICE_ATTR: { summary: 'KVM VFIO device fd: KVM_DEV_VFIO_FILE `attr` (KVM_DEV_VFIO_FILE_ADD / _DEL) of the VFIO group or device fd `file` (vfio_file_set_kvm)', fields: { attr: 'kvm-vfio-attr', file: 'fd' } },
};

/**
 * A document process op (already checked by the schema and its refinements,
 * schema.ts and document.ts) compiled to the ProcOp the process actor runs.
 * `taskCall` compiles a task op made as a sysfs write.
 */
export function compileProcOp(o: Readonly<Record<string, unknown>>, taskCall: (o: Readonly<Record<string, unknown>>) => ProcOp & { do: 'sysfs' }): ProcOp {
  // The process actor's own op form ({ "do": "open", ... }), as stress writes its rounds' replays: taken as it is.
  if (o.op === undefined) return o as unknown as ProcOp;
  const name = o.op as string;
  switch (name) {
    case 'vfio.group.open':
    case 'vfio.cdev.open':
      return { do: 'open', path: { kind: name === 'vfio.group.open' ? 'group' : 'cdev', dev: o.dev as string }, as: o.as as string };
    case 'vfio.container.open':
    case 'iommufd.open':
      return { do: 'open', path: { kind: name === 'iommufd.open' ? 'iommufd' : 'container' }, as: o.as as string };
    case 'kvm.create_vm':
      return { do: 'open', path: { kind: 'kvm' }, as: o.as as string };
    case 'fd.close':
      return { do: 'close', fd: o.fd as string };
    case 'ioctl': {
      const { op: _op, fd, cmd, as, ...args } = o;
      const ioctl = { cmd, ...args } as ProcIoctl;
      return typeof as === 'string' ? { do: 'ioctl', fd: fd as string, ioctl, as } : { do: 'ioctl', fd: fd as string, ioctl };
    }
    case 'vfio.dma':
      return { do: 'dma', fd: o.fd as string, iova: o.iova as number, ...(o.pasid !== undefined ? { pasid: o.pasid as number } : {}), ...(o.write !== undefined ? { write: o.write as boolean } : {}) };
    case 'proc.post':
      return { do: 'post', event: o.event as string };
    case 'proc.wait':
      return { do: 'wait', event: o.event as string };
    case 'proc.exit':
      return { do: 'exit' };
    case 'proc.close_all':
      return { do: 'close_all' };
    case 'proc.yield':
      return { do: 'yield' };
    default:
      return taskCall(o);
  }
}

/** The fd names an op opens (its `as`, or a device fd named after its device), for the refinement's fd checks. */
export function opensFd(o: Readonly<Record<string, unknown>>): string | null {
  if (o.op === undefined) return o.do === 'open' || (o.do === 'ioctl' && typeof o.as === 'string') ? (o.as as string) : null;
  if (['vfio.group.open', 'vfio.cdev.open', 'vfio.container.open', 'iommufd.open', 'kvm.create_vm'].includes(o.op as string)) return o.as as string;
  if (o.op === 'ioctl' && o.cmd === 'VFIO_GROUP_GET_DEVICE_FD') return typeof o.as === 'string' ? o.as : (o.dev as string);
  if (o.op === 'ioctl' && o.cmd === 'KVM_CREATE_DEVICE') return typeof o.as === 'string' ? o.as : 'kvm-vfio';
  return null;
}
