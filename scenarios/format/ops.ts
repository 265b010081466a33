import type { DriverAction } from '../../protocol/driver-actions.ts';
import { DRIVER_CORE, IOMMU_CORE, PCI } from '../../protocol/kernel.ts';
import type { Call } from '../../protocol/kernel.ts';
import type { SysfsBus } from '../../protocol/sysfs.ts';
import type { Topology } from '../../protocol/topology.ts';

/**
 * The operations a scenario task is made of (`{"op": "pci.hot_remove",
 * "dev": "0000:01:00.0"}`), each compiled to the kernel-model call it stands
 * for. `ops` lists them; a scenario document names them. Fields are checked
 * here so a bad document fails with the path of the bad field.
 */

/**
 * Field types: names are related to the topology at load (document.ts):
 * `unit` names a declared IOMMU unit, `late-unit` one declared with
 * `present_at_boot: false` (the only kind `iommu.register` can register);
 * `pf` a PCI device with an SR-IOV capability (topology.pci[].sriov).
 */
export type FieldType = 'dev' | 'string' | 'number' | 'actions' | 'slot' | 'driver' | 'bool' | 'unit' | 'late-unit'
  // a sysfs attribute path (protocol/sysfs.ts) that can be read / written; a topology module
  | 'sysfs-readable' | 'sysfs-writable' | 'module'
  // a PCI device with an SR-IOV capability (topology.pci[].sriov)
  | 'pf';

export interface OpSpec {
  readonly name: string;
  readonly summary: string;
  /** Required fields and their types; `?` marks an optional field. */
  readonly fields: Readonly<Record<string, FieldType>>;
  readonly compile: (o: Readonly<Record<string, unknown>>, ctx?: CompileContext) => Call;
}

/**
 * What an op's compiler may ask of the machine it runs on: the bus a driver
 * is registered on (its sysfs directory is /sys/bus/<bus>/drivers/<drv>).
 * Without a context (the `ops` listing) a driver is taken to be a PCI one.
 */
export interface CompileContext {
  readonly driverBus: (driver: string) => SysfsBus | undefined;
}

/** The compile context of a topology. */
export function compileContext(t: Pick<Topology, 'drivers'>): CompileContext {
  const bus = new Map(t.drivers.map((d) => [d.name, d.bus]));
  return { driverBus: (driver) => bus.get(driver) };
}

const moduleCall = (actions: readonly DriverAction[], module = 'scenario'): Call => ({ to: DRIVER_CORE, op: 'module_call', body: { module, actions } });

/** A single kernel call made by a module (no driver): one action. */
const action = (a: Readonly<Record<string, unknown>>, as: DriverAction['do']): Call => {
  const { op: _op, ...rest } = a;
  return moduleCall([{ ...rest, do: as } as DriverAction]);
};

/**
 * `driver.bind` / `driver.unbind`: userspace's write of the device name to
 * the driver's bind/unbind file, through kernfs as any sysfs write
 * (fs/kernfs/file.c: kernfs_fop_write_iter — of->mutex, kernfs_get_active,
 * ->store, kernfs_put_active). The files are DRIVER_ATTR_IGNORE_LOCKDEP
 * (drivers/base/bus.c: `static DRIVER_ATTR_IGNORE_LOCKDEP(bind, 0200, NULL,
 * bind_store)`), so their active reference has no lockdep map; the driver
 * path is on the driver's own bus (bus_add_driver() puts the driver's
 * kobject in bus->p->drivers_kset).
 */
const driverAttrWrite = (o: Readonly<Record<string, unknown>>, attr: 'bind' | 'unbind', ctx: CompileContext | undefined): Call => {
  const driver = String(o.driver);
  const path = `/sys/bus/${ctx?.driverBus(driver) ?? 'pci'}/drivers/${driver}/${attr}`;
  return { to: DRIVER_CORE, op: 'kernfs_fop_write_iter', body: { path, value: o.dev } };
};

export const OPS: readonly OpSpec[] = [
  {
    name: 'driver.bind', summary: 'sysfs bind: write `dev` to /sys/bus/<bus>/drivers/<driver>/bind (kernfs: of->mutex, active reference, bind_store → really_probe under device_lock); bytes written or an errno',
    fields: { dev: 'dev', driver: 'driver' }, compile: (o, ctx) => driverAttrWrite(o, 'bind', ctx),
  },
  {
    name: 'driver.unbind', summary: 'sysfs unbind: write `dev` to /sys/bus/<bus>/drivers/<driver>/unbind (kernfs, unbind_store → remove, dma_cleanup); bytes written or an errno',
    fields: { dev: 'dev', driver: 'driver' }, compile: (o, ctx) => driverAttrWrite(o, 'unbind', ctx),
  },
  {
    name: 'driver.call', summary: 'the bound driver of `dev` runs kernel calls from a work item (actions as in a driver\'s probe)',
    fields: { dev: 'dev', actions: 'actions' }, compile: (o) => ({ to: DRIVER_CORE, op: 'driver_call', body: { dev: o.dev, actions: o.actions } }),
  },
  {
    name: 'module.call', summary: 'a module (no device) runs kernel calls, e.g. iommu_domain_alloc(bus); `module` names it (default "scenario"; its results are its own)',
    fields: { actions: 'actions', 'module?': 'string' }, compile: (o) => moduleCall(o.actions as DriverAction[], (o.module as string | undefined) ?? 'scenario'),
  },
  {
    name: 'device.del', summary: 'device_unregister(): device_del() + put_device()',
    fields: { dev: 'dev' }, compile: (o) => ({ to: DRIVER_CORE, op: 'device_unregister', body: { dev: o.dev } }),
  },
  {
    name: 'pci.hot_remove', summary: 'sysfs remove: pci_rescan_remove_lock → unbind and delete the subtree',
    fields: { dev: 'dev' }, compile: (o) => ({ to: PCI, op: 'pci_stop_and_remove_bus_device_locked', body: { dev: o.dev } }),
  },
  {
    name: 'pci.surprise_remove', summary: 'pciehp: link down on `slot`; the subtree is marked disconnected, then removed',
    fields: { slot: 'slot' }, compile: (o) => ({ to: PCI, op: 'pciehp_disable_slot', body: { slot: o.slot, surprise: true } }),
  },
  {
    name: 'pci.slot_disable', summary: 'pciehp: attention button on `slot`; orderly removal',
    fields: { slot: 'slot' }, compile: (o) => ({ to: PCI, op: 'pciehp_disable_slot', body: { slot: o.slot, surprise: false } }),
  },
  {
    name: 'pci.slot_enable', summary: 'pciehp: presence/link up on `slot`; its devices scanned and probed (pciehp_configure_device: reset_lock dropped around driver binding)',
    fields: { slot: 'slot' }, compile: (o) => ({ to: PCI, op: 'pciehp_enable_slot', body: { slot: o.slot } }),
  },
  {
    name: 'pci.rescan', summary: 'sysfs rescan: hot-add `dev` (a `hotplug` device) and what is missing below it',
    fields: { dev: 'dev' }, compile: (o) => ({ to: PCI, op: 'pci_rescan_bus', body: { dev: o.dev } }),
  },
  {
    name: 'pci.reset_function', summary: 'pci_reset_function(): pci_dev_lock (bridge, device), reset methods, IOMMU prepare/done',
    fields: { dev: 'dev' }, compile: (o) => ({ to: PCI, op: 'pci_reset_function', body: { dev: o.dev } }),
  },
  {
    name: 'pci.sysfs_reset', summary: 'sysfs reset: write 1 to /sys/bus/pci/devices/<dev>/reset (kernfs: of->mutex, kn->active#reset, reset_store → pci_reset_function); bytes written or an errno',
    fields: { dev: 'dev' }, compile: (o) => ({ to: DRIVER_CORE, op: 'kernfs_fop_write_iter', body: { path: `/sys/bus/pci/devices/${String(o.dev)}/reset`, value: '1' } }),
  },
  {
    name: 'pci.try_reset_function', summary: 'pci_try_reset_function(): -EAGAIN if the device lock is taken',
    fields: { dev: 'dev' }, compile: (o) => ({ to: PCI, op: 'pci_try_reset_function', body: { dev: o.dev } }),
  },
  // ---- SR-IOV (actors/pci/iov.ts) --------------------------------------------------------
  {
    name: 'sriov.enable', summary: 'write `num_vfs` (1..total_vfs) to the PF `dev`\'s sriov_numvfs: device_lock(PF) → pci_rescan_remove_lock → sriov_configure → VFs added and probed',
    fields: { dev: 'pf', num_vfs: 'number' }, compile: (o) => ({ to: PCI, op: 'sriov_numvfs_store', body: { dev: o.dev, num_vfs: o.num_vfs } }),
  },
  {
    name: 'sriov.disable', summary: 'write 0 to the PF `dev`\'s sriov_numvfs: the VFs\' drivers released and the VFs removed under the PF\'s device_lock',
    fields: { dev: 'pf' }, compile: (o) => ({ to: PCI, op: 'sriov_numvfs_store', body: { dev: o.dev, num_vfs: 0 } }),
  },
  {
    name: 'iommu.domain_alloc', summary: 'a module calls iommu_domain_alloc(bus) (seed 004; variant domain-alloc)',
    fields: { bus: 'string', 'as?': 'string' }, compile: (o) => action({ as: 'domain', ...o }, 'iommu_domain_alloc'),
  },
  {
    name: 'iommu.group_claim', summary: 'iommu_group_claim_dma_owner() on the group of `dev` for `owner`',
    fields: { dev: 'dev', owner: 'string' },
    compile: (o) => moduleCall([{ do: 'iommu_group_get', dev: o.dev as string, as: 'group' }, { do: 'iommu_group_claim_dma_owner', group: 'group', owner: o.owner as string }]),
  },
  {
    name: 'sva.bind', summary: 'iommu_sva_bind_device(dev, mm) by the bound driver of `dev`',
    fields: { dev: 'dev', mm: 'string' }, compile: (o) => ({ to: DRIVER_CORE, op: 'driver_call', body: { dev: o.dev, actions: [{ do: 'iommu_sva_bind_device', mm: o.mm, as: `sva:${String(o.mm)}` }] } }),
  },
  {
    name: 'device.dma', summary: '`dev` performs DMA at `iova` (optionally on `pasid`)',
    fields: { dev: 'dev', iova: 'number', 'pasid?': 'number' },
    compile: (o) => moduleCall([{ do: 'dma', dev: o.dev as string, iova: o.iova as number, ...(o.pasid !== undefined ? { pasid: o.pasid as number } : {}) }]),
  },
  // ---- IOMMU instances at run time (actors/iommu-core/register.ts) ----
  {
    name: 'iommu.register', summary: 'the unit\'s driver registers `unit` (declared present_at_boot: false): iommu_device_register() → bus_iommu_probe() of each bus, groups first, then default domains and DMA ops per group; then the deferred probes run again',
    fields: { unit: 'late-unit' }, compile: (o) => ({ to: IOMMU_CORE, op: 'iommu_device_register', body: { unit: o.unit } }),
  },
  {
    name: 'iommu.unregister', summary: 'iommu_device_unregister(`unit`): iommu_release_device() of each of its devices (no device_lock; drivers may still be bound), then translation off',
    fields: { unit: 'unit' }, compile: (o) => ({ to: IOMMU_CORE, op: 'iommu_device_unregister', body: { unit: o.unit } }),
  },
  {
    name: 'dma.map', summary: 'the DMA API maps a buffer for `dev` (iommu-dma: deferred attach, IOVA allocation)',
    fields: { dev: 'dev' }, compile: (o) => moduleCall([{ do: 'dma_map', dev: o.dev as string, as: 'iova' }]),
  },
  // ---- sysfs over kernfs, module lifetimes (issue 16 items 3 and 4) ----
  {
    name: 'sysfs.read', summary: 'read a sysfs attribute by `path` (kernfs: m->lock, of->mutex, active reference, show): uevent, driver_override, iommu_group/type',
    fields: { path: 'sysfs-readable' }, compile: (o) => ({ to: DRIVER_CORE, op: 'kernfs_fop_read_iter', body: { path: o.path } }),
  },
  {
    name: 'sysfs.write', summary: 'write `value` to a sysfs attribute by `path` (kernfs: of->mutex, active reference, store): driver_override, reset, remove, iommu_group/type, drivers/<drv>/bind|unbind',
    fields: { path: 'sysfs-writable', value: 'string' }, compile: (o) => ({ to: DRIVER_CORE, op: 'kernfs_fop_write_iter', body: { path: o.path, value: o.value } }),
  },
  {
    name: 'module.load', summary: 'load `module` (a topology module): load_module → driver_register of its drivers, attaching matching devices',
    fields: { module: 'module' }, compile: (o) => ({ to: DRIVER_CORE, op: 'load_module', body: { module: o.module } }),
  },
  {
    name: 'module.unload', summary: 'delete_module(`module`): -EAGAIN while pinned; driver_unregister (unbinds every device), free_module',
    fields: { module: 'module' }, compile: (o) => ({ to: DRIVER_CORE, op: 'delete_module', body: { module: o.module } }),
  },
];

export function findOp(name: string): OpSpec | undefined {
  return OPS.find((o) => o.name === name);
}
