import type { Kernel, KObject } from '../../runtime/actor.ts';
import type { LockRef } from '../../protocol/events.ts';
import { objId } from '../../protocol/ids.ts';
import type { ObjId } from '../../protocol/ids.ts';
import type { KernelConfig } from '../../protocol/kernel.ts';
import { resolveVariants } from '../../protocol/variants.ts';
import type { ModelVariants } from '../../protocol/variants.ts';
import {
  chrdevsLock, containerGroupLock, devSetLock, ictxObjectsLock, igateLock, igroupLock, ioasMutex, iovaRwsem, memoryLock,
  type1IommuLock, vfioDeviceComp, vfioDeviceSetXaLock, vfioGroupDeviceLock, vfioGroupListLock, vfioGroupLock, vfioIommuDriversLock,
  dfKvmRefLock, kvLock, kvmLock, vfioGroupKvmRefLock,
} from '../../protocol/lock-classes.ts';
import type { Topology } from '../../protocol/topology.ts';
import { pciSpec } from '../../protocol/topology.ts';
import { pciTopology } from '../pci/topology.ts';
import type { PciTopology } from '../pci/topology.ts';

/**
 * The vfio actor's objects (docs/kernel-facts.md §2.5, §4): VFIO's groups,
 * devices, device sets, containers and the type1 backend, the files of the
 * VFS part of the model, and iommufd's context, IOAS, HWPT, igroup and
 * device objects. Every field another task could touch goes through
 * k.read/k.write with the lock the kernel protects it with; records and
 * lists are replaced, never mutated in place.
 *
 * Object ids (the `alloc` type is what the checkers key on):
 * - `vfio_group.<n>` (type "vfio_group"), <n> the iommu group number, with a
 *   `#<generation>` suffix when a number is used again;
 * - `vfio_device:<bdf>#<generation>` ("vfio_device");
 * - `dev_set:<key>` ("vfio_device_set"): <key> is the PCI slot, the
 *   bridge's secondary bus, or the device itself (vfio_pci_core_register_device);
 * - `file#<n>` ("file"), `df#<n>` ("vfio_device_file"), `container#<n>`
 *   ("vfio_container"), `vfio_iommu#<n>` ("vfio_iommu");
 * - iommufd: `ictx#<n>` ("iommufd_ctx"), `ioas#<n>`, `hwpt#<n>`, `idev#<n>`,
 *   `igroup#<n>` ("iommufd_ioas", "iommufd_hwpt_paging", "iommufd_device",
 *   "iommufd_group").
 */

/** The global `vfio` struct of drivers/vfio/group.c. */
export interface VfioGlobal extends KObject {
  /** vfio.group_list: vfio_group ids. vfio.group_lock. */
  group_list: readonly string[];
}

/** The char device map (fs/char_dev.c cdev_map): device node → vfio_group / vfio_device id. chrdevs_lock. */
export interface CdevMap extends KObject {
  nodes: Readonly<Record<string, string>>;
}

/** vfio_device_set_xa: set key → dev_set id. Its xa_lock. */
export interface DevSetXa extends KObject {
  sets: Readonly<Record<string, string>>;
}

/** struct vfio_group (drivers/vfio/group.c). */
export interface VfioGroup extends KObject {
  /** The /dev/vfio/<number> node. */
  readonly number: string;
  /** group->iommu_group: written under vfio.group_lock and group_lock (revocation), read under either. */
  iommu_group: string | null;
  /** refcount_t drivers: vfio drivers registered in the iommu group. Atomic; taken to 0 under vfio.group_lock. */
  drivers: number;
  /** The group's struct device refs (the cdev, each open group file, the registration): atomic. */
  kref: number;
  /** group_lock */
  opened_file: string | null;
  container: string | null;
  container_users: number;
  /** The iommufd_ctx of a group set to an iommufd (compat), or null. */
  iommufd: string | null;
  cdev_device_open_cnt: number;
  /** group->device_list: vfio_device ids. vfio_group->device_lock. */
  device_list: readonly string[];
  /** group->kvm: the VM the KVM VFIO device gave it (vfio_file_set_kvm); group->kvm_ref_lock (group_lock before 2b48f52f2bff). */
  kvm: string | null;
}

/** struct vfio_device + struct vfio_pci_core_device (the fields the model needs). */
export interface VfioDevice extends KObject {
  readonly dev: string;
  readonly group: string;
  readonly dev_set: string;
  /** The registration refcount (refcount_t): atomic. Its last put completes `comp`. */
  refcount: number;
  /** dev_set->lock (READ_ONCE in vfio_assert_device_open). */
  open_count: number;
  /** vdev->iommufd_device: the iommufd device object while bound; dev_set->lock. */
  idev: string | null;
  /** vdev->iommufd_attached (the RID); dev_set->lock. */
  iommufd_attached: boolean;
  /** PASIDs attached through VFIO_DEVICE_ATTACH_IOMMUFD_PT; dev_set->lock. */
  pasids: readonly number[];
  /** A cdev fd has bound the device (vfio_device_cdev_opened); dev_set->lock. */
  cdev_opened: boolean;
  /** vfio_pci_core_enable(): the open-time try-reset worked; dev_set->lock. */
  reset_works: boolean;
  needs_reset: boolean;
  /** vdev->req_trigger: the process whose eventfd is signalled, and its device file; vdev->igate. */
  req_trigger: { readonly proc: string; readonly file: string } | null;
  /** Model flag: vfio_unregister_group_dev() has returned (the vfio invariants checker keys on it). */
  unregistered: boolean;
  /** device->kvm: the VM for the driver, set at first open (vfio_device_get_kvm_safe: with a reference), cleared at last close; dev_set->lock. */
  kvm: string | null;
}

/** struct vfio_device_set. */
export interface DevSet extends KObject {
  readonly key: string;
  /** dev_set->lock */
  device_list: readonly string[];
  /** device_count: vfio_device_set_xa's lock. */
  device_count: number;
}

/** struct file as the model's VFS keeps it. */
export interface VFile extends KObject {
  readonly kind: 'vfio-group' | 'vfio-container' | 'vfio-device' | 'iommufd' | 'kvm-vm' | 'kvm-device';
  /** private_data: the vfio_group, container, vfio_device_file, iommufd_ctx, kvm or kvm_vfio id. */
  readonly priv: string;
  readonly proc: string;
  /** f_count: atomic. */
  f_count: number;
}

/** struct vfio_device_file (df). */
export interface DeviceFile extends KObject {
  readonly device: string;
  /** df->group: the vfio_group for a group-path fd, null for a cdev fd. */
  readonly group: string | null;
  /** Published with smp_store_release after open, read with smp_load_acquire by every ioctl. */
  access_granted: boolean;
  /** df->iommufd: the iommufd_ctx; dev_set->lock. */
  iommufd: string | null;
  /** The iommufd device id returned by BIND_IOMMUFD. */
  devid: string | null;
  /** df->kvm of a cdev fd (vfio_device_file_set_kvm); df->kvm_ref_lock. */
  kvm: string | null;
}

/** struct kvm (virt/kvm/kvm_main.c), as far as VFIO meets it. */
export interface Kvm extends KObject {
  /** kvm->users_count (refcount_t): the VM fd, each KVM device, each vfio_device reference (kvm_get_kvm_safe). Atomic; at 0 kvm_destroy_vm() frees it. */
  users_count: number;
  /** kvm->devices: the KVM devices (kvm_vfio ids). kvm->lock. */
  devices: readonly string[];
}

/** struct kvm_device of type KVM_DEV_TYPE_VFIO with its struct kvm_vfio (virt/kvm/vfio.c). */
export interface KvmVfio extends KObject {
  readonly kvm: string;
  /** kv->file_list: the VFIO files added, each holding a file reference (get_file). kv->lock. */
  files: readonly string[];
}

/** struct vfio_container (drivers/vfio/container.c). */
export interface VfioContainer extends KObject {
  /** container->group_lock */
  group_list: readonly string[];
  iommu_driver: 'type1' | null;
  /** iommu_data: the type1 vfio_iommu id. */
  iommu: string | null;
  /** kref: the container file and each attached group. Atomic. */
  kref: number;
}

/** A type1 domain (struct vfio_domain): the iommu domain and the iommu groups attached to it. */
export interface Type1Domain {
  readonly domain: string;
  readonly groups: readonly string[];
}

/** struct vfio_iommu (drivers/vfio/vfio_iommu_type1.c). */
export interface Type1Iommu extends KObject {
  readonly v2: boolean;
  /** iommu->lock */
  domains: readonly Type1Domain[];
  /** iommu->dma_list: IOVA → pinned user page. */
  dma: Readonly<Record<string, string>>;
}

/** iommufd objects of a context's id table. */
export type IommufdObjType = 'ioas' | 'hwpt_paging' | 'device';

/** struct iommufd_ctx. */
export interface IommufdCtx extends KObject {
  /** The iommufd file: iommufd_ctx_get/put are get_file/fput on it. */
  readonly file: string;
  /** ictx->objects: id → type. ictx->objects xa_lock. */
  objects: Readonly<Record<string, IommufdObjType>>;
  /** ictx->groups: iommu group id → igroup id (same lock in the model). */
  groups: Readonly<Record<string, string>>;
  /** ictx->vfio_ioas: the compat IOAS of the VFIO group path. Same lock. */
  vfio_ioas: string | null;
}

/** struct iommufd_ioas (with its io_pagetable). */
export interface Ioas extends KObject {
  readonly ictx: string;
  /** ioas->mutex: the HWPTs built on this IOAS. */
  hwpt_list: readonly string[];
  /** iopt areas: IOVA → pinned page. iopt->iova_rwsem. */
  areas: Readonly<Record<string, string>>;
  /** iopt->domains: the iommu domains the areas are mapped into. iopt->iova_rwsem. */
  domains: readonly string[];
}

/** struct iommufd_hwpt_paging. */
export interface Hwpt extends KObject {
  readonly ictx: string;
  readonly ioas: string;
  readonly domain: string;
  /** IOMMU_HWPT_ALLOC_PASID: usable for PASID attach and as the RID domain of a device with PASIDs attached. */
  readonly pasid_compat: boolean;
  /** Created by the auto-domain path (destroyed with its last device). Written under ioas->mutex. */
  auto_domain: boolean;
  /** obj.users beyond the id table's own: attached devices. Atomic. */
  users: number;
}

/** One PASID (0: the RID) of an iommufd_group: the HWPT it uses and the devices attached through it. */
export interface IgroupAttach {
  readonly hwpt: string;
  readonly devices: readonly string[];
}

/** struct iommufd_group. */
export interface Igroup extends KObject {
  readonly ictx: string;
  readonly group: string;
  /** igroup->lock: pasid → attachment (the pasid_attach xarray; 0 is the RID). */
  attach: Readonly<Record<string, IgroupAttach>>;
  /** kref: the iommufd devices using it. Atomic. */
  kref: number;
}

/** struct iommufd_device. */
export interface Idev extends KObject {
  readonly ictx: string;
  readonly dev: string;
  readonly igroup: string;
  readonly vdev: string;
}

export interface VfioState {
  readonly topology: Topology;
  readonly pt: PciTopology;
  readonly vfio: VfioGlobal;
  readonly cdevs: CdevMap;
  readonly setXa: DevSetXa;
  readonly groups: Record<string, VfioGroup>;
  readonly devices: Record<string, VfioDevice>;
  /** dev_get_drvdata(): the vfio_device vfio-pci registered for a device (its drvdata; written by probe/remove under device_lock). */
  readonly drvdata: Record<string, string>;
  readonly devSets: Record<string, DevSet>;
  readonly files: Record<string, VFile>;
  readonly dfs: Record<string, DeviceFile>;
  readonly containers: Record<string, VfioContainer>;
  readonly iommus: Record<string, Type1Iommu>;
  readonly ictxs: Record<string, IommufdCtx>;
  readonly ioas: Record<string, Ioas>;
  readonly hwpts: Record<string, Hwpt>;
  readonly igroups: Record<string, Igroup>;
  readonly idevs: Record<string, Idev>;
  /** KVM: the VMs processes created, and their VFIO pseudo-devices (actors/vfio/kvm.ts). */
  readonly kvms: Record<string, Kvm>;
  readonly kvmVfios: Record<string, KvmVfio>;
  /** Per-task: files whose last reference went in this syscall; released at its return to userspace (task_work ____fput). */
  readonly taskWork: Record<string, string[]>;
  /** Counters for fresh object names. */
  readonly gen: Record<string, number>;
  /** The model's variant choice (protocol/variants.ts); the container ioctl reads `container-ioctl`. */
  readonly variants: ModelVariants;
}

export type VK = Kernel<VfioState>;

export function initialState(config: unknown): VfioState {
  const { topology, variants } = config as KernelConfig;
  return {
    topology, variants: resolveVariants(variants),
    pt: pciTopology(topology),
    vfio: { id: objId('vfio'), group_list: [] },
    cdevs: { id: objId('cdev_map'), nodes: {} },
    setXa: { id: objId('vfio_device_set_xa'), sets: {} },
    groups: {}, devices: {}, drvdata: {}, devSets: {}, files: {}, dfs: {}, containers: {}, iommus: {},
    ictxs: {}, ioas: {}, hwpts: {}, igroups: {}, idevs: {}, kvms: {}, kvmVfios: {}, taskWork: {}, gen: {},
  };
}

/** A fresh name: `<base>` the first time, then `<base>#<n>`; or `<base>#<n>` always with `numbered`. */
export function freshName(k: VK, base: string, numbered = false): string {
  // names are handed out in order: two tasks' allocations are ordered by it
  k.touches(`gen:${base}`);
  const n = (k.state.gen[base] ?? 0) + 1;
  k.state.gen[base] = n;
  return !numbered && n === 1 ? base : `${base}#${n}`;
}

/** Allocates a kernel object with a fresh readable id. */
export function allocObj(k: VK, type: string, base: string, numbered = true): ObjId {
  return k.alloc(type, freshName(k, base, numbered));
}

// ---- guards ----------------------------------------------------------------------------------

const g = (l: LockRef): { readonly guard: LockRef } => ({ guard: l });
export const LOCKLESS = { lockless: true } as const;

export const GROUP_LIST = (): { readonly guard: LockRef } => g(vfioGroupListLock());
export const underGroupLock = (grp: string): { readonly guard: LockRef } => g(vfioGroupLock(grp));
export const underGroupDeviceLock = (grp: string): { readonly guard: LockRef } => g(vfioGroupDeviceLock(grp));
export const underDevSet = (set: string): { readonly guard: LockRef } => g(devSetLock(set));
export const underContainer = (c: string): { readonly guard: LockRef } => g(containerGroupLock(c));
export const underIommu = (iommu: string): { readonly guard: LockRef } => g(type1IommuLock(iommu));
export const underIgate = (vdev: string): { readonly guard: LockRef } => g(igateLock(vdev));
export const underChrdevs = (): { readonly guard: LockRef } => g(chrdevsLock());
export const underSetXa = (): { readonly guard: LockRef } => g(vfioDeviceSetXaLock());
export const underObjects = (ictx: string): { readonly guard: LockRef } => g(ictxObjectsLock(ictx));
export const underIoas = (ioas: string): { readonly guard: LockRef } => g(ioasMutex(ioas));
export const underIova = (ioas: string): { readonly guard: LockRef } => g(iovaRwsem(ioas));
export const underIgroup = (ig: string): { readonly guard: LockRef } => g(igroupLock(ig));
export const underKvm = (kvm: string): { readonly guard: LockRef } => g(kvmLock(kvm));
export const underKv = (kv: string): { readonly guard: LockRef } => g(kvLock(kv));
/** group->kvm's guard: kvm_ref_lock since 2b48f52f2bff, group_lock before it (variant kvm-ref). */
export const underGroupKvm = (k: VK, grp: string): { readonly guard: LockRef } => g(k.state.variants['kvm-ref'] === 'group-lock' ? vfioGroupLock(grp) : vfioGroupKvmRefLock(grp));

/**
 * Publishes the identity fields of a new object as writes the checkers see
 * (the object is not reachable by any other task yet, so they are marked
 * accesses): which device a vfio_device or a device file is about, which
 * iommu group a vfio_group stands for (checkers/vfio-invariants reads them).
 */
export function initFields<O extends KObject>(k: VK, o: O, fields: readonly (keyof O & string)[]): void {
  for (const f of fields) k.write(o, f, o[f], LOCKLESS);
}

/** An atomic (refcount_t / atomic_t) field, optionally changed under a lock the kernel also holds. */
export const atomic = (l?: LockRef): { readonly guard?: LockRef; readonly lockless: true } => (l === undefined ? LOCKLESS : { guard: l, lockless: true });

export {
  chrdevsLock, containerGroupLock, devSetLock, ictxObjectsLock, igateLock, igroupLock, ioasMutex, iovaRwsem, memoryLock, type1IommuLock, vfioDeviceComp,
  vfioDeviceSetXaLock, vfioGroupDeviceLock, vfioGroupListLock, vfioGroupLock, vfioIommuDriversLock, dfKvmRefLock, kvLock, kvmLock, vfioGroupKvmRefLock,
};

/** Object ids as ObjId. */
export const asObj = (s: string): ObjId => s as ObjId;

/** The pci_dev's unit, from the topology (the device's fwspec). */
export function unitOf(k: VK, dev: string): string | null {
  return pciSpec(k.state.topology, dev)?.unit ?? null;
}
