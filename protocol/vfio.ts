import { actorId } from './ids.ts';
import type { ActorId } from './ids.ts';
import type { Call } from './kernel.ts';

/**
 * VFIO and userspace (docs/kernel-facts.md §4): the vfio actor's mailbox
 * (drivers/vfio/ plus the iommufd character device, drivers/iommu/iommufd/)
 * and the mailbox of a userspace process actor.
 *
 * Files: a process holds fds; an fd names a `struct file` the vfio actor
 * owns (the VFS part of the model: f_count, ->release at the last fput).
 * Every op a process makes passes the file ids its fds name, as fdget() in
 * the syscall would resolve them; an fd the process does not have is -EBADF
 * before the kernel is entered.
 *
 * Replies: 0 or an Errno value, or the op's value (a new file id, a status,
 * an iommufd object id, a DMA outcome) where noted.
 */

export const VFIO: ActorId = actorId('vfio');

/** The actor id of a userspace process. */
export const processActor = (name: string): ActorId => actorId(`proc:${name}`);

/** The root task that runs a process's program. */
export const processTask = (name: string): string => `proc:${name}`;

/**
 * A path a process opens:
 * - `group`: /dev/vfio/$GROUP, where $GROUP is read from
 *   /sys/bus/pci/devices/<dev>/iommu_group (the device's iommu group);
 * - `container`: /dev/vfio/vfio;
 * - `iommufd`: /dev/iommu;
 * - `cdev`: /dev/vfio/devices/vfioN of `dev` (the model names the node by
 *   the device, as /sys/bus/pci/devices/<dev>/vfio-dev/ tells userspace);
 * - `kvm`: /dev/kvm and KVM_CREATE_VM on it: the open's fd is the VM fd
 *   (the /dev/kvm fd itself holds nothing the model needs).
 */
export type VfioPath =
  | { readonly kind: 'kvm' }
  | { readonly kind: 'group'; readonly dev: string }
  | { readonly kind: 'container' }
  | { readonly kind: 'iommufd' }
  | { readonly kind: 'cdev'; readonly dev: string };

/** VFIO_SET_IOMMU's argument: the backend. Only type1 is modelled; anything else finds no driver (-ENODEV). */
export type VfioIommuType = 'VFIO_TYPE1_IOMMU' | 'VFIO_TYPE1v2_IOMMU' | 'VFIO_SPAPR_TCE_IOMMU';

type F = { readonly file: string };

/** The ioctls, by their uAPI names; `file` is the file the ioctl is made on. */
export type VfioIoctlMailbox =
  // ---- group fd (drivers/vfio/group.c) ----------------------------------------------------
  /** Replies GroupStatus. */
  | { readonly op: 'VFIO_GROUP_GET_STATUS'; readonly body: F }
  /** `container`: the file of the container or iommufd fd, null for an fd that is not open (-EBADF). */
  | { readonly op: 'VFIO_GROUP_SET_CONTAINER'; readonly body: F & { readonly container: string | null } }
  | { readonly op: 'VFIO_GROUP_UNSET_CONTAINER'; readonly body: F }
  /** Replies the new device file id. */
  | { readonly op: 'VFIO_GROUP_GET_DEVICE_FD'; readonly body: F & { readonly dev: string } }
  // ---- container fd (drivers/vfio/container.c, vfio_iommu_type1.c) -----------------------------
  | { readonly op: 'VFIO_SET_IOMMU'; readonly body: F & { readonly type: VfioIommuType } }
  /** Pins the process page `page` (a `user:<proc>:<n>` name) and maps it at `iova` in every domain of the container. */
  | { readonly op: 'VFIO_IOMMU_MAP_DMA'; readonly body: F & { readonly iova: number; readonly page: string } }
  /** Replies the number of bytes unmapped (0 when nothing was mapped there). */
  | { readonly op: 'VFIO_IOMMU_UNMAP_DMA'; readonly body: F & { readonly iova: number } }
  // ---- device fd (drivers/vfio/vfio_main.c, device_cdev.c, pci/vfio_pci_core.c) ---------------
  /** `iommufd`: the iommufd file, null for an fd that is not open. Replies the devid. */
  | { readonly op: 'VFIO_DEVICE_BIND_IOMMUFD'; readonly body: F & { readonly iommufd: string | null } }
  /** `pt`: an IOAS or HWPT id of the bound iommufd. Replies the HWPT id attached. */
  | { readonly op: 'VFIO_DEVICE_ATTACH_IOMMUFD_PT'; readonly body: F & { readonly pt: string; readonly pasid?: number } }
  | { readonly op: 'VFIO_DEVICE_DETACH_IOMMUFD_PT'; readonly body: F & { readonly pasid?: number } }
  | { readonly op: 'VFIO_DEVICE_RESET'; readonly body: F }
  /** `groups`: the group files the caller lists (null: an fd that is not open); empty for a cdev fd. */
  | { readonly op: 'VFIO_DEVICE_PCI_HOT_RESET'; readonly body: F & { readonly groups: readonly (string | null)[] } }
  /** VFIO_DEVICE_SET_IRQS for VFIO_PCI_REQ_IRQ_INDEX: the process's eventfd for device requests. */
  | { readonly op: 'VFIO_DEVICE_SET_IRQS'; readonly body: F & { readonly index: 'REQ'; readonly proc: string } }
  // ---- iommufd (drivers/iommu/iommufd/) ----------------------------------------------------------
  /** Replies the IOAS id. */
  | { readonly op: 'IOMMU_IOAS_ALLOC'; readonly body: F }
  | { readonly op: 'IOMMU_IOAS_MAP'; readonly body: F & { readonly ioas: string; readonly iova: number; readonly page: string } }
  | { readonly op: 'IOMMU_IOAS_UNMAP'; readonly body: F & { readonly ioas: string; readonly iova: number } }
  /** A manual (not auto) HWPT_PAGING for device `devid` on IOAS `pt`; `pasid`: IOMMU_HWPT_ALLOC_PASID. Replies the HWPT id. */
  | { readonly op: 'IOMMU_HWPT_ALLOC'; readonly body: F & { readonly devid: string; readonly pt: string; readonly pasid?: boolean } }
  | { readonly op: 'IOMMU_DESTROY'; readonly body: F & { readonly id: string } }
  // ---- KVM (virt/kvm/kvm_main.c, virt/kvm/vfio.c) -------------------------------------------------
  /** VM fd: KVM_CREATE_DEVICE of `type`; replies the device file id. Only KVM_DEV_TYPE_VFIO is modelled (others -ENODEV). */
  | { readonly op: 'KVM_CREATE_DEVICE'; readonly body: F & { readonly type: KvmDeviceType } }
  /** KVM VFIO device fd: KVM_SET_DEVICE_ATTR, group KVM_DEV_VFIO_FILE, `attr` ADD/DEL of the VFIO file `vfio` (null: an fd that is not open). */
  | { readonly op: 'KVM_SET_DEVICE_ATTR'; readonly body: F & { readonly attr: KvmVfioAttr; readonly vfio: string | null } };

/** KVM_CREATE_DEVICE's type. */
export type KvmDeviceType = 'KVM_DEV_TYPE_VFIO' | 'KVM_DEV_TYPE_ARM_VGIC_V3';
/** The KVM_DEV_VFIO_FILE group's attributes. */
export type KvmVfioAttr = 'KVM_DEV_VFIO_FILE_ADD' | 'KVM_DEV_VFIO_FILE_DEL';

export type VfioIoctl = VfioIoctlMailbox['op'];

export type VfioMailbox =
  | VfioIoctlMailbox
  // ---- the kernel side: called from vfio-pci's probe/remove (protocol/driver-actions.ts) ---------
  /** vfio_pci_core_register_device() → vfio_register_group_dev(), under the probe's device_lock. Ret. */
  | { readonly op: 'vfio_register_group_dev'; readonly body: { readonly dev: string } }
  /** vfio_pci_core_unregister_device() → vfio_unregister_group_dev(): waits for the last fd. Ret. */
  | { readonly op: 'vfio_unregister_group_dev'; readonly body: { readonly dev: string } }
  // ---- the VFS: open(2), close(2) ------------------------------------------------------------------
  /** open(2): replies the new file id or an Errno. `proc` is the opening process (pinned pages are its memory). */
  | { readonly op: 'open'; readonly body: { readonly path: VfioPath; readonly proc: string } }
  /** close(2): drops the fd table's reference; the last reference runs ->release (at return to userspace). */
  | { readonly op: 'fput'; readonly body: F }
  /** The process programs the device (through its mmap'ed BARs) to DMA at `iova`. Replies the unit's DmaOutcome. */
  | { readonly op: 'device_dma'; readonly body: F & { readonly iova: number; readonly pasid?: number; readonly write?: boolean } };

/** VFIO_GROUP_GET_STATUS's flags. */
export interface GroupStatus {
  readonly viable: boolean;
  readonly container_set: boolean;
}

// ---- userspace ------------------------------------------------------------------------------------

/**
 * A process's program as data: one op after another (program order) in the
 * process's main task. `as` names a result (an fd, an IOAS/HWPT/device id);
 * later ops refer to fds and ids by those names (a name no result has is
 * passed as it is). An op's errno does not stop the program: every op's
 * result is reported, errnos by name; ops after `exit` are not run.
 */
export type ProcOp =
  | { readonly do: 'open'; readonly path: VfioPath; readonly as: string }
  | { readonly do: 'close'; readonly fd: string }
  | { readonly do: 'ioctl'; readonly fd: string; readonly ioctl: ProcIoctl; readonly as?: string }
  /** Program the device behind a device fd to DMA (see VfioMailbox device_dma). */
  | { readonly do: 'dma'; readonly fd: string; readonly iova: number; readonly pasid?: number; readonly write?: boolean }
  /**
   * A write to sysfs (or any other syscall into the kernel model) that is
   * not VFIO's: unbind/bind a driver, remove a device, reset it. `call` is
   * made from the process's task, as the write(2) would be.
   */
  | { readonly do: 'sysfs'; readonly call: Call }
  /** Userspace synchronization between processes (a pipe, a futex): `post` an event once; `wait` until it was posted. */
  | { readonly do: 'post'; readonly event: string }
  | { readonly do: 'wait'; readonly event: string }
  /**
   * exit(2): the exiting task closes its fd table (do_exit → exit_files →
   * close_files, ascending fd number) and runs the deferred releases
   * (exit_task_work, last queued first); later ops do not run.
   */
  | { readonly do: 'exit' }
  /** Every fd still open closed by a thread of its own (a multi-threaded process whose threads each close one), in an order the scheduler chooses. */
  | { readonly do: 'close_all' }
  | { readonly do: 'yield' };

/**
 * The ioctls as a process writes them: fds by name (`container`, `iommufd`,
 * `groups`), ids by result name (`pt`, `ioas`, `devid`, `id`), user memory
 * by virtual page number (`vaddr`: the page `user:<proc>:<vaddr>`).
 */
export type ProcIoctl =
  | { readonly cmd: 'VFIO_GROUP_GET_STATUS' }
  | { readonly cmd: 'VFIO_GROUP_SET_CONTAINER'; readonly container: string }
  | { readonly cmd: 'VFIO_GROUP_UNSET_CONTAINER' }
  | { readonly cmd: 'VFIO_GROUP_GET_DEVICE_FD'; readonly dev: string }
  | { readonly cmd: 'VFIO_SET_IOMMU'; readonly type?: VfioIommuType }
  | { readonly cmd: 'VFIO_IOMMU_MAP_DMA'; readonly iova: number; readonly vaddr: number }
  | { readonly cmd: 'VFIO_IOMMU_UNMAP_DMA'; readonly iova: number }
  | { readonly cmd: 'VFIO_DEVICE_BIND_IOMMUFD'; readonly iommufd: string }
  | { readonly cmd: 'VFIO_DEVICE_ATTACH_IOMMUFD_PT'; readonly pt: string; readonly pasid?: number }
  | { readonly cmd: 'VFIO_DEVICE_DETACH_IOMMUFD_PT'; readonly pasid?: number }
  | { readonly cmd: 'VFIO_DEVICE_RESET' }
  | { readonly cmd: 'VFIO_DEVICE_PCI_HOT_RESET'; readonly groups?: readonly string[] }
  | { readonly cmd: 'VFIO_DEVICE_SET_IRQS'; readonly index: 'REQ' }
  | { readonly cmd: 'IOMMU_IOAS_ALLOC' }
  | { readonly cmd: 'IOMMU_IOAS_MAP'; readonly ioas: string; readonly iova: number; readonly vaddr: number }
  | { readonly cmd: 'IOMMU_IOAS_UNMAP'; readonly ioas: string; readonly iova: number }
  | { readonly cmd: 'IOMMU_HWPT_ALLOC'; readonly devid: string; readonly pt: string; readonly pasid?: boolean }
  | { readonly cmd: 'IOMMU_DESTROY'; readonly id: string }
  | { readonly cmd: 'KVM_CREATE_DEVICE'; readonly type?: KvmDeviceType }
  | { readonly cmd: 'KVM_SET_DEVICE_ATTR'; readonly attr: KvmVfioAttr; readonly file: string };

/**
 * What a process does when the kernel signals its device-request eventfd
 * (vfio_pci_core_request, from vfio_unregister_group_dev): `close` the
 * device fd it registered (QEMU unplugs the device), or `ignore` it and
 * keep the fd (the unbind then waits for ever).
 */
export type RequestPolicy = 'close' | 'ignore';

/** A userspace process of a kernel-model program. */
export interface ProcessSpec {
  /** Its actor is `proc:<name>`, its main task `proc:<name>`. */
  readonly name: string;
  readonly ops: readonly ProcOp[];
  /** Default `close`. */
  readonly onRequest?: RequestPolicy;
  /**
   * Default false: after its last op the process exits (its fds are closed).
   * True: it keeps running with its fds open (a VM that never stops).
   */
  readonly stay?: boolean;
}

/** The process actor's configuration. */
export interface ProcessConfig {
  readonly name: string;
}

/** One op's outcome as a process reports it. */
export interface ProcResult {
  readonly do: ProcOp['do'];
  /** The value (a file id, an object id, a status, 0) or an errno name ("EBUSY"). */
  readonly ret: unknown;
}

export type ProcessMailbox =
  /** The process's program: waits for the system to boot, runs `ops` in order, replies ProcResult[]. */
  | { readonly op: 'main'; readonly body: { readonly ops: readonly ProcOp[]; readonly onRequest?: RequestPolicy; readonly stay?: boolean } }
  /** The device-request eventfd of the device whose fd is `file` fired (a task of its own). */
  | { readonly op: 'eventfd_signal'; readonly body: { readonly file: string } }
  /** One close(2) of exit: the fd named `fd`. */
  | { readonly op: 'close_fd'; readonly body: { readonly fd: string } };

/** The completion a userspace `post`/`wait` event is (it is not a kernel object: no kernel lock is ever held across it). */
export const userEvent = (event: string): string => `userspace:${event}`;

/** The page a process's virtual page `vaddr` is: user memory, never kernel memory (the isolation checker tells them apart by the prefix). */
export const userPage = (proc: string, vaddr: number): string => `user:${proc}:${vaddr}`;
export const isUserPage = (page: string): boolean => page.startsWith('user:');
