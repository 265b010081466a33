import type { LockKind, LockRef } from './events.ts';
import { lockId } from './ids.ts';
import type { LockId } from './ids.ts';
import { PCIEHP_IST_ANY, contextKind } from './contexts.ts';

/**
 * The lock classes of the modelled kernel, declared once (docs/kernel-facts.md
 * §1.1). A class is `(kind, role)`: every `dev->mutex` is one class
 * "device_lock", every `group->mutex` one class "group->mutex", as lockdep
 * keys them by their static `lock_class_key`. Instances are named
 * `<owner>-><member>` after the owning object's id (`0000:01:00.0->mutex`),
 * globals by their C name (`iommu_probe_device_lock`).
 *
 * Rule the checkers rely on: the object that owns a lock instance is the part
 * of its id before the first "->" (`lockOwner`); freeing that object while the
 * lock is held is lockdep's "held lock freed!".
 */

/** A class's kind: a lock the lock manager implements, or a completion (a wait-for edge, never held). */
export type ClassKind = LockKind;

export interface LockClassInfo {
  readonly kind: ClassKind;
  /** Per-object classes: the member the instance id ends with; null for a global lock. */
  readonly member: string | null;
  /** The kernel file that defines it. */
  readonly where: string;
  /** What it protects, in a few words (for reports and `list`). */
  readonly protects: string;
  /**
   * The single-threaded context kind (protocol/contexts.ts) that only ever
   * takes its own instance of this class: a lock of the class owned by
   * another instance of the kind is another thread's (checkers/lockdep/
   * graph.ts, junctions). lockdep keys classes, not instances, so it cannot
   * tell two such threads apart.
   */
  readonly ownedBy?: string;
}

export const LOCK_CLASSES = {
  // ---- driver core / PCI ------------------------------------------------------
  // The kernel puts every dev->mutex in lockdep's novalidate class
  // (drivers/base/core.c: device_initialize → lockdep_set_novalidate_class);
  // iommu-lab validates it, with subclasses for parent→child nesting.
  'device_lock': { kind: 'mutex', member: 'mutex', where: 'drivers/base/core.c', protects: 'dev->driver, probe/remove, dev->p->dead' },
  'subsys_private->mutex': { kind: 'mutex', member: 'p->mutex', where: 'drivers/base/bus.c', protects: 'bus interface list' },
  'pci_rescan_remove_lock': { kind: 'mutex', member: null, where: 'drivers/pci/probe.c', protects: 'PCI add/remove topology changes' },
  'pci_bus_sem': { kind: 'rwsem', member: null, where: 'drivers/pci/search.c', protects: 'bus device lists' },
  // pci_cfg_access_lock() is a flag (dev->block_cfg_access) with a wait queue;
  // it blocks like a mutex, so the model treats it as one.
  'pci_cfg_access_lock': { kind: 'mutex', member: 'cfg_access', where: 'drivers/pci/access.c', protects: 'config space access during reset' },
  // pciehp_ist() takes its own controller's (down_read_nested(&ctrl->reset_lock, ctrl->depth)), never another's
  'ctrl->reset_lock': { kind: 'rwsem', member: 'reset_lock', where: 'drivers/pci/hotplug/pciehp_hpc.c', protects: 'slot reset vs hotplug events', ownedBy: 'pciehp_ist' },
  // ---- kernfs / sysfs (fs/kernfs/, fs/sysfs/) -------------------------------------
  // kn->active, the active reference of a kernfs node, is a lockdep map
  // (kn->dep_map): kernfs_get_active() = rwsem_acquire_read(trylock),
  // kernfs_drain() = rwsem_acquire (write) while it waits for the count to
  // drain. Its class is the attribute's static key (sysfs_add_file_mode_ns():
  // attr->key ?: &attr->skey), so one class per attribute definition — lockdep
  // prints them "kn->active#N". Attributes declared *_IGNORE_LOCKDEP (bind,
  // unbind, PCI remove) have no map.
  'kn->active#uevent': { kind: 'rwsem', member: 'active', where: 'drivers/base/core.c', protects: 'dev_attr_uevent show/store vs kernfs_drain' },
  'kn->active#driver_override': { kind: 'rwsem', member: 'active', where: 'drivers/pci/pci-sysfs.c', protects: 'driver_override show/store vs kernfs_drain' },
  'kn->active#reset': { kind: 'rwsem', member: 'active', where: 'drivers/pci/pci-sysfs.c', protects: 'dev_attr_reset store vs kernfs_drain' },
  'kn->active#type': { kind: 'rwsem', member: 'active', where: 'drivers/iommu/iommu.c', protects: 'iommu_group_attr_type show/store vs kernfs_drain' },
  // struct kernfs_open_file's mutex (kernfs_fop_open: one per open file; the
  // mmap-able files get a second key), and the seq_file's m->lock (seq_read_iter).
  'of->mutex': { kind: 'mutex', member: 'mutex', where: 'fs/kernfs/file.c', protects: 'one open file: show/store of it, of->event' },
  'seq_file->lock': { kind: 'mutex', member: 'lock', where: 'fs/seq_file.c', protects: 'a seq_file read' },
  // kernel/module/main.c: the module list; held by load_module's add_unformed_module and delete_module's lookup and try_stop_module.
  'module_mutex': { kind: 'mutex', member: null, where: 'kernel/module/main.c', protects: 'the modules list, module state changes' },
  // lib/klist.c: klist_init() spin_lock_init()s every klist's k_lock at one site: one class.
  'klist->k_lock': { kind: 'mutex', member: 'k_lock', where: 'lib/klist.c', protects: 'a klist (bus devices, bus drivers)' },
  // ---- IOMMU core ---------------------------------------------------------------
  'iommu_probe_device_lock': { kind: 'mutex', member: null, where: 'drivers/iommu/iommu.c', protects: 'dev->iommu, __iommu_probe_device()' },
  // the spinlock of iommu_device_list (registered IOMMU instances): a leaf, taken by iommu_device_register/unregister
  'iommu_device_lock': { kind: 'mutex', member: null, where: 'drivers/iommu/iommu.c', protects: 'iommu_device_list (registered IOMMU instances)' },
  'group->mutex': { kind: 'mutex', member: 'mutex', where: 'drivers/iommu/iommu.c', protects: 'group devices, domains, owner, owner_cnt, pasid_array writers' },
  'dev->iommu->lock': { kind: 'mutex', member: 'iommu->lock', where: 'include/linux/iommu.h', protects: 'dev->iommu->fault_param' },
  'iommu_sva_lock': { kind: 'mutex', member: null, where: 'drivers/iommu/iommu-sva.c', protects: 'mm->iommu_mm, SVA domain lists, handle refcounts' },
  'arm_smmu_asid_lock': { kind: 'mutex', member: null, where: 'drivers/iommu/arm/arm-smmu-v3/arm-smmu-v3.c', protects: 'ASID sharing vs STE/CD updates' },
  'dmar_global_lock': { kind: 'rwsem', member: null, where: 'drivers/iommu/intel/dmar.c', protects: 'DMAR hotplug globals' },
  // ---- VFIO -----------------------------------------------------------------------
  'vfio.group_lock': { kind: 'mutex', member: null, where: 'drivers/vfio/group.c', protects: 'vfio.group_list' },
  'vfio_group->group_lock': { kind: 'mutex', member: 'group_lock', where: 'drivers/vfio/group.c', protects: 'opened_file, container, iommufd, iommu_group pointer' },
  'vfio_group->device_lock': { kind: 'mutex', member: 'device_lock', where: 'drivers/vfio/group.c', protects: 'group->device_list' },
  'dev_set->lock': { kind: 'mutex', member: 'lock', where: 'drivers/vfio/vfio_main.c', protects: 'open_count of the set, open/close, hot-reset decisions' },
  'container->group_lock': { kind: 'rwsem', member: 'group_lock', where: 'drivers/vfio/container.c', protects: 'container group list, iommu_driver' },
  'vfio.iommu_drivers_lock': { kind: 'mutex', member: null, where: 'drivers/vfio/container.c', protects: 'registered VFIO IOMMU backends' },
  'vfio_iommu->lock': { kind: 'mutex', member: 'lock', where: 'drivers/vfio/vfio_iommu_type1.c', protects: 'type1 domain and dma lists' },
  'vdev->memory_lock': { kind: 'rwsem', member: 'memory_lock', where: 'drivers/vfio/pci/vfio_pci_core.c', protects: 'BAR/MMIO enable state vs user mmaps' },
  'vdev->igate': { kind: 'mutex', member: 'igate', where: 'drivers/vfio/pci/vfio_pci_core.c', protects: 'IRQ configuration' },
  // The xa_lock of vfio_device_set_xa (a spinlock; leaf).
  'vfio_device_set_xa': { kind: 'mutex', member: null, where: 'drivers/vfio/vfio_main.c', protects: 'dev_set lookup and creation' },
  // fs/char_dev.c: kobj_map(cdev_map) and kobj_lookup() run under chrdevs_lock (cdev_device_add/del, chrdev_open).
  'chrdevs_lock': { kind: 'mutex', member: null, where: 'fs/char_dev.c', protects: 'the char device map (/dev/vfio/* nodes)' },
  // vfio_unregister_group_dev() waits on device->comp for the last fd close
  // (docs/kernel-facts.md §1.3, bug B10): a wait-for edge, not a lock.
  'vfio_device->comp': { kind: 'completion', member: 'comp', where: 'drivers/vfio/vfio_main.c', protects: 'last device fd closed' },
  // ---- KVM and its VFIO pseudo-device (virt/kvm/kvm_main.c, virt/kvm/vfio.c) ------
  'kvm->lock': { kind: 'mutex', member: 'lock', where: 'virt/kvm/kvm_main.c', protects: 'kvm->devices, device create/release, arch VM state (s390 zPCI registration)' },
  'kv->lock': { kind: 'mutex', member: 'lock', where: 'virt/kvm/vfio.c', protects: 'the KVM VFIO device\'s file_list' },
  // a spinlock (2b48f52f2bff, bug B13's fix): group->kvm
  'vfio_group->kvm_ref_lock': { kind: 'mutex', member: 'kvm_ref_lock', where: 'drivers/vfio/group.c', protects: 'group->kvm' },
  // a spinlock: df->kvm of a cdev device file
  'df->kvm_ref_lock': { kind: 'mutex', member: 'kvm_ref_lock', where: 'drivers/vfio/device_cdev.c', protects: 'df->kvm' },
  // ---- iommufd --------------------------------------------------------------------
  'igroup->lock': { kind: 'mutex', member: 'lock', where: 'drivers/iommu/iommufd/device.c', protects: 'pasid_attach, reserved IOVA bookkeeping' },
  'ioas->mutex': { kind: 'mutex', member: 'mutex', where: 'drivers/iommu/iommufd/ioas.c', protects: 'hwpt_list (auto domains)' },
  // io_pagetable.c's domains_rwsem → iova_rwsem pair, folded into one rwsem: the IOVA areas and the domain list.
  'iopt->iova_rwsem': { kind: 'rwsem', member: 'iopt.iova_rwsem', where: 'drivers/iommu/iommufd/io_pagetable.c', protects: 'IOVA areas and the domains they are mapped into' },
  // The xa_lock of ictx->objects (and of ictx->groups, folded into it; both leaf spinlocks).
  'ictx->objects': { kind: 'mutex', member: 'objects.xa_lock', where: 'drivers/iommu/iommufd/main.c', protects: 'object id table, igroup table' },
} as const satisfies Readonly<Record<string, LockClassInfo>>;

export type LockClassName = keyof typeof LOCK_CLASSES;

export function isLockClassName(s: string): s is LockClassName {
  return Object.hasOwn(LOCK_CLASSES, s);
}

/** The kind a LockRef carries for a class. Completions travel as 'mutex' refs until LockKind names them (see completionRef). */

/**
 * A LockRef for one instance of a declared class. `owner` is the owning
 * object's id (required for per-object classes, ignored for globals); `sub`
 * is the nesting subclass (lockdep's SINGLE_DEPTH_NESTING is 1).
 */
export function classLock(cls: LockClassName, owner: string | null = null, sub = 0): LockRef {
  const info: LockClassInfo = LOCK_CLASSES[cls];
  let id: string;
  if (info.member === null) id = cls;
  else if (owner === null || owner === '') throw new Error(`lock class ${cls} needs the id of the object that owns the lock`);
  else id = `${owner}->${info.member}`;
  const base = { id: lockId(id), cls, kind: info.kind };
  return sub > 0 ? { ...base, sub } : base;
}

/**
 * A completion reference. protocol/events.ts has no 'completion' LockKind
 * yet, so a completion rides in a LockRef with kind 'mutex'; what makes it a
 * completion is the op and the events that carry it (wait.start, complete),
 * never this field.
 */
export function completionRef(id: string, cls: string = id): LockRef {
  return { id: lockId(id), cls, kind: 'completion' };
}

/** A lock of a scenario's own (not a kernel class): `mutexRef('A')`, `rwsemRef('S')`. */
export function mutexRef(id: string, cls: string = id, sub = 0): LockRef {
  return sub > 0 ? { id: lockId(id), cls, kind: 'mutex', sub } : { id: lockId(id), cls, kind: 'mutex' };
}
export function rwsemRef(id: string, cls: string = id, sub = 0): LockRef {
  return sub > 0 ? { id: lockId(id), cls, kind: 'rwsem', sub } : { id: lockId(id), cls, kind: 'rwsem' };
}

/** The same lock with a nesting subclass (mutex_lock_nested / down_read_nested). */
export function nested(l: LockRef, sub: number): LockRef {
  const { sub: _old, ...rest } = l;
  return sub > 0 ? { ...rest, sub } : rest;
}

// ---- instance helpers, one per class a model uses often -------------------------

export const deviceLock = (dev: string, sub = 0): LockRef => classLock('device_lock', dev, sub);
export const pciCfgAccessLock = (dev: string): LockRef => classLock('pci_cfg_access_lock', dev);
export const pciRescanRemoveLock = (): LockRef => classLock('pci_rescan_remove_lock');
export const pciehpResetLock = (ctrl: string, sub = 0): LockRef => classLock('ctrl->reset_lock', ctrl, sub);

/** Whether a context (or a `kind:*` pattern) of this kind only ever takes its own instance of class `cls`. */
export function ownsClass(ctx: string, cls: string): boolean {
  return isLockClassName(cls) && (LOCK_CLASSES[cls] as LockClassInfo).ownedBy === contextKind(ctx);
}

/** The instance of class `cls` that context `ctx` (an instance, not a pattern) owns, or null. */
export function ownInstance(ctx: string, cls: string): string | null {
  if (!ownsClass(ctx, cls) || !isLockClassName(cls) || ctx.endsWith(':*')) return null;
  return classLock(cls, ctx.slice(contextKind(ctx).length + 1)).id;
}
export const iommuProbeDeviceLock = (): LockRef => classLock('iommu_probe_device_lock');
export const groupMutex = (group: string): LockRef => classLock('group->mutex', group);
export const iommuDeviceLock = (): LockRef => classLock('iommu_device_lock');
export const iommuSvaLock = (): LockRef => classLock('iommu_sva_lock');
export const vfioGroupListLock = (): LockRef => classLock('vfio.group_lock');
export const vfioGroupLock = (vfioGroup: string): LockRef => classLock('vfio_group->group_lock', vfioGroup);
export const vfioGroupDeviceLock = (vfioGroup: string): LockRef => classLock('vfio_group->device_lock', vfioGroup);
export const devSetLock = (devSet: string): LockRef => classLock('dev_set->lock', devSet);
export const containerGroupLock = (container: string): LockRef => classLock('container->group_lock', container);
export const type1IommuLock = (iommu: string): LockRef => classLock('vfio_iommu->lock', iommu);
export const memoryLock = (vdev: string): LockRef => classLock('vdev->memory_lock', vdev);
export const igroupLock = (igroup: string): LockRef => classLock('igroup->lock', igroup);
export const ioasMutex = (ioas: string): LockRef => classLock('ioas->mutex', ioas);
export const iovaRwsem = (ioas: string): LockRef => classLock('iopt->iova_rwsem', ioas);
export const ictxObjectsLock = (ictx: string): LockRef => classLock('ictx->objects', ictx);
export const igateLock = (vdev: string): LockRef => classLock('vdev->igate', vdev);
export const vfioIommuDriversLock = (): LockRef => classLock('vfio.iommu_drivers_lock');
export const vfioDeviceSetXaLock = (): LockRef => classLock('vfio_device_set_xa');
export const chrdevsLock = (): LockRef => classLock('chrdevs_lock');
export const kvmLock = (kvm: string): LockRef => classLock('kvm->lock', kvm);
export const kvLock = (kv: string): LockRef => classLock('kv->lock', kv);
export const vfioGroupKvmRefLock = (vfioGroup: string): LockRef => classLock('vfio_group->kvm_ref_lock', vfioGroup);
export const dfKvmRefLock = (df: string): LockRef => classLock('df->kvm_ref_lock', df);
export const vfioDeviceComp = (vdev: string): LockRef => {
  const r = classLock('vfio_device->comp', vdev);
  return completionRef(r.id, r.cls);
};

/** The object that owns a lock instance: the id before the first "->"; null for a global lock. */
export function lockOwner(id: LockId | string): string | null {
  const i = id.indexOf('->');
  return i > 0 ? id.slice(0, i) : null;
}

/** The lockdep class key of a reference: the class plus its nesting subclass ("device_lock/1"). */
export function classKey(l: LockRef): string {
  return l.sub !== undefined && l.sub > 0 ? `${l.cls}/${l.sub}` : l.cls;
}

/**
 * The canonical nesting order of docs/kernel-facts.md §1.2 (outer → inner),
 * with the kernel function that shows each edge. A model that takes these
 * classes the other way round inverts a dependency the real kernel has.
 */
export interface KnownDependency {
  readonly outer: LockClassName;
  readonly inner: LockClassName;
  /** The outer lock is held for read (rwsems). */
  readonly outerRead?: boolean;
  /** The inner lock is taken for read (down_read: a non-recursive reader, lockdep's N). */
  readonly innerRead?: boolean;
  /**
   * false: the kernel takes this edge, but it closes a cycle the kernel's own
   * lockdep reports (an upstream issue on the known list), so it is not
   * preloaded: preloaded edges are never checked, and preloading it would
   * hide that report. Default true.
   */
  readonly preload?: boolean;
  /** The kernel function that shows the edge ("file.c: function"). */
  readonly via: string;
  /** Where the order is declared, as reports print it (default docs/kernel-facts.md §1.2). */
  readonly source?: string;
  /**
   * The single-threaded context that alone makes this dependency
   * (protocol/contexts.ts, `kind:*` for any instance); absent: any task may.
   */
  readonly context?: string;
}

export const CANONICAL_ORDER: readonly KnownDependency[] = [
  // the read lock is taken in pciehp_ist() (down_read_nested(&ctrl->reset_lock, ctrl->depth)) and held into pciehp_unconfigure_device()'s pci_lock_rescan_remove()
  // only ever in pciehp_ist() (pciehp_sysfs_disable_slot() hands its request to the IRQ thread): protocol/contexts.ts
  { outer: 'ctrl->reset_lock', outerRead: true, inner: 'pci_rescan_remove_lock', via: 'drivers/pci/hotplug/pciehp_hpc.c: pciehp_ist', context: PCIEHP_IST_ANY },
  // pciehp_unconfigure_device() / pciehp_configure_device() retake it with down_read_nested() under pci_rescan_remove_lock
  // (since f5eff5591b8f): the reverse of the edge above, the cycle reported against 6.14 (fuzz/known.ts pciehp-reset-lock)
  { outer: 'pci_rescan_remove_lock', inner: 'ctrl->reset_lock', innerRead: true, preload: false, via: 'drivers/pci/hotplug/pciehp_pci.c: pciehp_unconfigure_device', context: PCIEHP_IST_ANY },
  { outer: 'pci_rescan_remove_lock', inner: 'device_lock', via: 'drivers/pci/remove.c: pci_stop_and_remove_bus_device' },
  // SR-IOV (7.0, a5338e365c45): sriov_numvfs_store() takes pci_rescan_remove_lock inside the PF's device_lock around
  // ->sriov_configure — the reverse of the edge above, the AB-BA against a sysfs remove of the PF reported in 2026-03
  // (fuzz/known.ts sriov-numvfs-rescan-lock); not preloaded, so lockdep still reports it
  { outer: 'device_lock', inner: 'pci_rescan_remove_lock', preload: false, via: 'drivers/pci/iov.c: sriov_numvfs_store' },
  { outer: 'device_lock', inner: 'pci_cfg_access_lock', via: 'drivers/pci/pci.c: pci_dev_lock' },
  { outer: 'device_lock', inner: 'ctrl->reset_lock', via: 'drivers/pci/hotplug/pciehp_hpc.c: pciehp_reset_slot' },
  { outer: 'device_lock', inner: 'iommu_probe_device_lock', via: 'drivers/iommu/of_iommu.c: of_iommu_configure' },
  { outer: 'device_lock', inner: 'group->mutex', via: 'drivers/iommu/iommu.c: iommu_device_use_default_domain' },
  { outer: 'iommu_probe_device_lock', inner: 'group->mutex', via: 'drivers/iommu/iommu.c: __iommu_probe_device' },
  // the ops lookup of a probe (iommu_fwspec_ops → iommu_from_fwnode) and of_iommu_xlate's walk iommu_device_list under the probe lock; iommu_device_lock is a leaf
  { outer: 'iommu_probe_device_lock', inner: 'iommu_device_lock', via: 'drivers/iommu/iommu.c: iommu_from_fwnode' },
  { outer: 'group->mutex', inner: 'arm_smmu_asid_lock', via: 'drivers/iommu/arm/arm-smmu-v3/arm-smmu-v3.c: arm_smmu_attach_dev' },
  { outer: 'group->mutex', inner: 'dev->iommu->lock', via: 'drivers/iommu/io-pgfault.c: iopf_queue_add_device' },
  { outer: 'iommu_sva_lock', inner: 'group->mutex', via: 'drivers/iommu/iommu-sva.c: iommu_sva_bind_device' },
  { outer: 'device_lock', inner: 'vfio.group_lock', via: 'drivers/vfio/group.c: vfio_group_find_or_alloc' },
  { outer: 'vfio.group_lock', inner: 'vfio_group->device_lock', via: 'drivers/vfio/group.c: vfio_group_has_device' },
  { outer: 'vfio.group_lock', inner: 'vfio_group->group_lock', via: 'drivers/vfio/group.c: vfio_device_remove_group' },
  { outer: 'vfio_group->group_lock', inner: 'dev_set->lock', via: 'drivers/vfio/group.c: vfio_df_group_open' },
  // the first open under dev_set->lock binds and claims (vfio_df_open → vfio_df_iommufd_bind → iommufd_device_bind →
  // iommu_device_claim_dma_owner) and enables the device (vfio_pci_core_enable → pci_try_reset_function → pci_dev_reset_iommu_prepare)
  { outer: 'dev_set->lock', inner: 'group->mutex', via: 'drivers/vfio/vfio_main.c: vfio_df_open' },
  // KVM (issue 16 item 6; bug B13 and its fix 2b48f52f2bff): the first open takes the KVM reference under dev_set->lock
  // (§1.2 edge 15); closing the KVM VFIO device clears group->kvm under kvm->lock; adding a file does it under kv->lock;
  // a driver's open_device that registers the KVM takes kvm->lock under dev_set->lock (vfio-ap, s390 zPCI: §6 B13 side A)
  { outer: 'dev_set->lock', inner: 'vfio_group->kvm_ref_lock', via: 'drivers/vfio/group.c: vfio_df_group_open' },
  { outer: 'kvm->lock', inner: 'vfio_group->kvm_ref_lock', via: 'virt/kvm/vfio.c: kvm_vfio_release' },
  { outer: 'kv->lock', inner: 'vfio_group->kvm_ref_lock', via: 'virt/kvm/vfio.c: kvm_vfio_file_add' },
  { outer: 'dev_set->lock', inner: 'kvm->lock', via: 'drivers/vfio/pci/vfio_pci_zdev.c: vfio_pci_zdev_open_device', source: 'docs/kernel-facts.md §6 B13' },
  { outer: 'vfio_group->group_lock', inner: 'container->group_lock', via: 'drivers/vfio/container.c: vfio_container_attach_group' },
  { outer: 'container->group_lock', inner: 'vfio_iommu->lock', via: 'drivers/vfio/vfio_iommu_type1.c: vfio_iommu_type1_attach_group' },
  { outer: 'container->group_lock', inner: 'group->mutex', via: 'drivers/iommu/iommu.c: iommu_group_claim_dma_owner' },
  { outer: 'vfio_iommu->lock', inner: 'group->mutex', via: 'drivers/iommu/iommu.c: iommu_attach_group' },
  { outer: 'vdev->memory_lock', inner: 'group->mutex', via: 'drivers/iommu/iommu.c: pci_dev_reset_iommu_prepare' },
  { outer: 'ioas->mutex', inner: 'igroup->lock', via: 'drivers/iommu/iommufd/device.c: iommufd_device_auto_get_domain' },
  { outer: 'igroup->lock', inner: 'group->mutex', via: 'drivers/iommu/iommufd/device.c: iommufd_hw_pagetable_attach' },
  { outer: 'dev_set->lock', inner: 'igroup->lock', via: 'drivers/vfio/iommufd.c: vfio_iommufd_physical_attach_ioas' },
  { outer: 'igroup->lock', inner: 'iopt->iova_rwsem', via: 'drivers/iommu/iommufd/device.c: iommufd_device_attach_reserved_iova' },
  // kernfs active references (kernel-facts §1.3): a show/store holds kn->active (read) around the callback,
  // the remover drains it (write) — device_del() under pci_rescan_remove_lock (pci_stop_and_remove_bus_device)
  { outer: 'kn->active#reset', outerRead: true, inner: 'device_lock', via: 'drivers/pci/pci-sysfs.c: reset_store' },
  { outer: 'kn->active#driver_override', outerRead: true, inner: 'device_lock', via: 'drivers/base/driver.c: driver_set_override' },
  { outer: 'kn->active#type', outerRead: true, inner: 'group->mutex', via: 'drivers/iommu/iommu.c: iommu_group_store_type' },
  { outer: 'kn->active#uevent', outerRead: true, inner: 'klist->k_lock', via: 'drivers/base/core.c: dev_driver_uevent' },
  { outer: 'of->mutex', inner: 'device_lock', via: 'fs/kernfs/file.c: kernfs_fop_write_iter' },
  { outer: 'seq_file->lock', inner: 'of->mutex', via: 'fs/kernfs/file.c: kernfs_seq_start' },
  { outer: 'pci_rescan_remove_lock', inner: 'kn->active#reset', via: 'fs/kernfs/dir.c: kernfs_drain' },
  { outer: 'pci_rescan_remove_lock', inner: 'kn->active#uevent', via: 'fs/kernfs/dir.c: kernfs_drain' },
  { outer: 'pci_rescan_remove_lock', inner: 'kn->active#driver_override', via: 'fs/kernfs/dir.c: kernfs_drain' },
];
