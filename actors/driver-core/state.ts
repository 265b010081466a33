import type { Kernel, KObject } from '../../runtime/actor.ts';
import { kobjectPut } from '../../runtime/kobject.ts';
import type { LockRef } from '../../protocol/events.ts';
import { lockId, objId } from '../../protocol/ids.ts';
import type { ObjId } from '../../protocol/ids.ts';
import type { KernelConfig } from '../../protocol/kernel.ts';
import { deviceLock, mutexRef } from '../../protocol/lock-classes.ts';
import type { DriverSpec, Topology } from '../../protocol/topology.ts';
import type { ModelVariants } from '../../protocol/variants.ts';
import { kfunc } from '../../runtime/kfunc.ts';
import { pciSpec } from '../../protocol/topology.ts';

/**
 * The driver core's objects (drivers/base/; docs/kernel-facts.md §2.1, §3.7).
 * driver-core owns struct device and struct device_driver; other actors
 * reach them by message (get_device, dev_driver_snapshot, ...).
 *
 * Object ids and types (the `alloc` type is what the checkers key on):
 * - struct device: `Device`, id = the device name (PCI BDF or platform
 *   name), type "device", allocated in device_add() (refcount 1 = the
 *   creator's reference), freed by the release at the last put_device();
 * - struct device_driver: `DeviceDriver`, id `driver:<name>`, type
 *   "device_driver", allocated by driver_register() at boot, never freed
 *   (built-in drivers);
 * - the bus klists (`Bus`, ids `pci_bus_type` / `platform_bus_type`) and the
 *   deferred-probe lists (`DeferredProbe`) are static objects.
 */

export type BusName = 'pci' | 'platform';

/** struct device (+ the parts of struct device_private the model needs). */
export interface Device extends KObject {
  readonly name: string;
  readonly bus: BusName;
  /**
   * dev->driver: the bound (or being bound) driver's name. Written with
   * WRITE_ONCE under device_lock (drivers/base/base.h: device_set_driver),
   * read under device_lock here and once, locklessly, by dma_configure and
   * the IOMMU probe path (READ_ONCE; bug B5).
   */
  driver: string | null;
  /** klist_node_attached(&dev->p->knode_driver) = device_is_bound(); under device_lock. */
  bound: boolean;
  /** dev->p->dead (kill_device); under device_lock. */
  dead: boolean;
  /** device_is_registered(): kobj.state_in_sysfs, set by kobject_add in device_add, cleared by kobject_del in device_del. */
  registered: boolean;
  /**
   * The driver's private data (dev_get_drvdata): the named results of its
   * actions. Written by probe (under device_lock), read by driver work items
   * without it; cleared by device_unbind_cleanup. Marked accesses: work
   * items ordered against probe/remove is the driver's business.
   */
  drvdata: Readonly<Record<string, unknown>>;
  /** Per driver: how many probe deferrals the device has used up (DriverSpec.defer). Under device_lock. */
  deferrals: Readonly<Record<string, number>>;
  /**
   * The driver_override sysfs attribute once written (driver_set_override,
   * under device_lock); absent: the topology's `driver`, set before device_add.
   */
  driver_override?: string | null;
  /**
   * An SR-IOV VF (pdev->is_virtfn): its device_lock is taken with the
   * nesting subclass 1, because the PF's sriov_configure adds, probes and
   * removes it with the PF's device_lock held (actors/pci/iov.ts). Absent: 0.
   */
  readonly virtfn?: true;
}

/** struct device_driver. */
export interface DeviceDriver extends KObject {
  readonly spec: DriverSpec;
  /** Set once at driver_register (the invariants checker reads the write event). */
  driver_managed_dma: boolean;
  /** drv->owner: the module whose .data holds this struct (null: built in, never freed). */
  readonly module: string | null;
  /** drv->name of a module's driver: a string in the module's memory, an object of its own (freed with the module). */
  readonly name_obj: ObjId | null;
  /** On the bus's klist_drivers (bus_add_driver .. bus_remove_driver's klist_remove): matchable, bindable. */
  klist: boolean;
  /** free_module() released the module memory it lives in. */
  freed: boolean;
}

/** struct module's state (include/linux/module.h enum module_state). */
export type ModuleState = 'coming' | 'live' | 'going';

/** struct module of a loadable driver module (kernel/module/main.c). */
export interface KModule extends KObject {
  readonly name: string;
  state: ModuleState;
  /** mod->refcnt above MODULE_REF_BASE: try_module_get() holders. */
  refcnt: number;
}

/** One node of a bus klist: the device and its insertion number (the node's place in the list). */
export interface KlistEntry {
  readonly dev: string;
  readonly seq: number;
}

/** bus_type's subsys_private: klist_devices, guarded by the klist's k_lock. */
export interface Bus extends KObject {
  readonly name: BusName;
  klist_devices: readonly KlistEntry[];
}

/** drivers/base/dd.c: deferred_probe_pending_list / _active_list / deferred_trigger_count, under deferred_probe_mutex. */
export interface DeferredProbe extends KObject {
  pending: readonly string[];
  active: readonly string[];
  /** atomic_t deferred_trigger_count: incremented under the mutex, read with atomic_read. */
  trigger_count: number;
}

/** A module's globals: the named results of its actions (module_call). */
export interface Module extends KObject {
  vars: Readonly<Record<string, unknown>>;
}

export interface DriverCoreState {
  readonly topology: Topology;
  /** Every struct device ever added, by name; a released one stays (freed) so a late use is a use-after-free. */
  readonly devices: Record<string, Device>;
  /** Names of devices whose struct device has been released (kfree'd). */
  readonly freed: Set<string>;
  /** Registered drivers by name. */
  readonly drivers: Record<string, DeviceDriver>;
  readonly buses: Readonly<Record<BusName, Bus>>;
  /** Next klist node number (nodes are only ever added at the tail). */
  klistSeq: number;
  readonly deferred: DeferredProbe;
  /** driver_deferred_probe_enable: set by deferred_probe_initcall() at the end of boot. */
  deferredEnabled: boolean;
  /**
   * The deferred_probe_work item's workqueue state (WORK_STRUCT_PENDING and
   * whether a worker runs it): a queued work item runs once, never
   * concurrently with itself; queueing it while it runs runs it again after.
   */
  readonly work: { queued: boolean; running: boolean };
  readonly modules: Record<string, Module>;
  /** Loaded modules (the kernel's `modules` list), by name: topology.modules loaded at boot or by module.load. */
  readonly mods: Record<string, KModule>;
  /** kernfs nodes of attributes, by path, created when first looked up (actors/driver-core/kernfs.ts). */
  readonly kernfs: Record<string, import('./kernfs.ts').KernfsNode>;
  /** Nodes a kernfs_drain() waits on, by path (removed from `kernfs` already). */
  readonly draining: Record<string, import('./kernfs.ts').KernfsNode>;
  /** Devices whose attributes device_del() has removed (until the name is added again). */
  readonly sysfsRemoved: Set<string>;
  /** Open files so far (of->mutex instances are numbered by it). */
  openSeq: number;
  /** The model's variant choice (protocol/variants.ts); platform_dma_configure reads `dma-configure-driver`. */
  readonly variants: ModelVariants;
}

export type DK = Kernel<DriverCoreState>;

export function initialState(config: unknown): DriverCoreState {
  const { topology, variants } = config as KernelConfig;
  const bus = (name: BusName): Bus => ({ id: objId(`${name}_bus_type`), name, klist_devices: [] });
  return {
    topology,
    devices: {},
    freed: new Set(),
    drivers: {},
    buses: { pci: bus('pci'), platform: bus('platform') },
    klistSeq: 0,
    deferred: { id: objId('deferred_probe'), pending: [], active: [], trigger_count: 0 },
    deferredEnabled: false,
    work: { queued: false, running: false },
    modules: {},
    mods: {},
    kernfs: {},
    draining: {},
    sysfsRemoved: new Set(),
    openSeq: 0,
    variants,
  };
}

// ---- locks ------------------------------------------------------------------------

/**
 * dev->mutex. A VF's is taken with SINGLE_DEPTH_NESTING: the PF's
 * sriov_numvfs_store() holds the PF's device_lock while the VF is probed and
 * released (PF → VF, like parent → child in __device_driver_lock), so
 * lockdep sees device_lock → device_lock/1, not recursive locking.
 */
export const DL = (dev: Device | string): LockRef => (typeof dev === 'string' ? deviceLock(dev) : deviceLock(dev.name, dev.virtfn === true ? 1 : 0));
export const underDevice = (dev: Device): { readonly guard: LockRef } => ({ guard: DL(dev) });
/** WRITE_ONCE/READ_ONCE of a field whose writers hold device_lock: marked, the guard documents the writers' lock. */
export const onceUnderDevice = (dev: Device): { readonly guard: LockRef; readonly lockless: true } => ({ guard: DL(dev), lockless: true });
export const LOCKLESS = { lockless: true } as const;

/** The bus klist's k_lock (lib/klist.c; a spinlock, one class for every klist), held only while stepping. */
export function klistLock(bus: BusName): LockRef {
  return { id: lockId(`${bus}_bus_type.klist_devices`), cls: 'klist->k_lock', kind: 'mutex' };
}

/** drivers/base/dd.c: deferred_probe_mutex. */
export const DEFERRED_PROBE_MUTEX: LockRef = mutexRef('deferred_probe_mutex');

// ---- lookups ------------------------------------------------------------------------

/** The struct device of `name` (possibly already released), or null if it was never added. */
export function deviceOf(k: DK, name: string): Device | null {
  return k.state.devices[name] ?? null;
}

export function driverOf(k: DK, name: string | null): DeviceDriver | null {
  if (name === null) return null;
  return k.state.drivers[name] ?? null;
}

/** The driver a device's driver_override (the topology's `driver`) names, if registered for its bus. */
export function overrideDriver(k: DK, dev: Device): DeviceDriver | null {
  const t = k.state.topology;
  // a written driver_override (driver_set_override) replaces the boot-time one; read by the matcher under device_lock
  const name = dev.driver_override !== undefined
    ? k.read(dev, 'driver_override', underDevice(dev))
    : dev.bus === 'pci'
      ? pciSpec(t, dev.name)?.driver
      : (t.platform ?? []).find((d) => d.name === dev.name)?.driver;
  const drv = driverOf(k, name ?? null);
  return drv !== null && drv.klist && drv.spec.bus === dev.bus ? drv : null;
}

/** A driver on its bus's klist_drivers (registered, not being unregistered): what bind and matching can find. */
export function registeredDriver(k: DK, name: string | null): DeviceDriver | null {
  const drv = driverOf(k, name);
  return drv !== null && drv.klist ? drv : null;
}

/** The IOMMU unit translating `dev` (its fwspec), from the topology; null without one. */
export function unitOfDevice(t: Topology, dev: string): string | null {
  const p = pciSpec(t, dev);
  if (p !== undefined) return p.unit ?? null;
  return (t.platform ?? []).find((d) => d.name === dev)?.unit ?? null;
}

// ---- references (drivers/base/core.c) ------------------------------------------------

/** get_device(). */
export const getDevice = kfunc('get_device', { actor: 'driver-core', source: 'drivers/base/core.c: get_device' }, function getDevice(k: DK, dev: Device): void {
  k.get(dev.id);
});

/**
 * put_device() → kobject_put(): at zero, device_release() → the bus's
 * release (pci_release_dev / platform_device_release) frees the memory.
 */
export const putDevice = kfunc('put_device', { actor: 'driver-core', source: 'drivers/base/core.c: put_device' }, function putDevice(k: DK, dev: Device): Promise<number> {
  return kobjectPut(k, dev.id, (kk) => {
    kk.free(dev.id);
    kk.state.freed.add(dev.name);
  });
});

export const isFreed = (k: DK, dev: Device): boolean => k.state.freed.has(dev.name);

