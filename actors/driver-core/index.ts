import { defineActor } from '../../runtime/actor.ts';
import { kfunc } from '../../runtime/kfunc.ts';
import type { DriverCoreMailbox, DriverSnapshot } from '../../protocol/driver-core.ts';
import { errno } from '../../protocol/errno.ts';
import type { Errno } from '../../protocol/errno.ts';
import { actorId } from '../../protocol/ids.ts';
import { BOOTED_COMPLETION, PCI } from '../../protocol/kernel.ts';
import { completionRef, deviceLock } from '../../protocol/lock-classes.ts';
import { busDmaConfigure, busForEachDev } from './bus.ts';
import { deviceAdd, deviceDel, deviceUnregister, driverRegister } from './core.ts';
import { deferredProbeWorkFunc, deviceAttach, deviceAttachAsyncHelper, deviceReleaseDriverInternal, bindStore, unbindStore } from './dd.ts';
import { driverDeferredProbeTrigger } from './deferred.ts';
import { bootModule, deleteModule, loadModule, modulePut, tryModuleGet } from './module.ts';
import { kernfsFopRead, kernfsFopWrite, sysfsRemoveDir } from './sysfs.ts';
import { kernfsDrainWait } from './kernfs.ts';
import { deviceScope, moduleScope, runActionList, unboundResults } from './driver-ops.ts';
import { LOCKLESS, deviceOf, driverOf, getDevice, initialState, isFreed, putDevice, underDevice } from './state.ts';
import type { DK, Device, DriverCoreState } from './state.ts';

/**
 * The driver-core actor (drivers/base/): struct device and its lifetime,
 * the bus klists, driver binding (probe, async and deferred probe, unbind,
 * sysfs bind/unbind), and the interpreter of drivers' actions. The
 * handlers are thin: the kernel functions live in core.ts (device_add/del),
 * bus.ts (klists, bus_for_each_dev, notifier, DMA hooks), dd.ts (binding),
 * deferred.ts and driver-ops.ts.
 */

const ENODEV = (): Errno => errno('ENODEV');

/** A handler about a device pointer: the device, or -ENODEV if no such device was ever added. */
async function withDevice<R>(k: DK, name: string, f: (dev: Device) => Promise<R>): Promise<R | Errno> {
  const dev = deviceOf(k, name);
  return dev === null ? ENODEV() : f(dev);
}

export const driverCore = defineActor<DriverCoreState, DriverCoreMailbox>('driver-core', {
  state: (config) => initialState(config),
  handlers: {
    /**
     * Kernel init: driver_register() of every built-in driver, PCI
     * enumeration (pci_scan_root_bus → device_add per device), the platform
     * devices, then deferred_probe_initcall() (late_initcall: deferred
     * probing is enabled and the pending list retried), then `booted`.
     * The initcall's flush_work() is not modelled: retries may still be
     * running when scenario tasks start.
     */
    async boot(k) {
      // modules udev loads at boot are in memory before their drivers register; a `boot: false` module waits for module.load
      const later = new Set((k.state.topology.modules ?? []).filter((m) => m.boot === false).map((m) => m.name));
      for (const m of k.state.topology.modules ?? []) if (!later.has(m.name)) bootModule(k, m.name);
      for (const spec of k.state.topology.drivers) if (spec.module === undefined || !later.has(spec.module)) driverRegister(k, spec);
      await k.call(PCI, 'pci_scan_root_bus', null);
      for (const p of k.state.topology.platform ?? []) await deviceAdd(k, p.name, true);
      k.state.deferredEnabled = true;
      await driverDeferredProbeTrigger(k);
      await k.complete_all(completionRef(BOOTED_COMPLETION));
      return 0;
    },

    async after_boot(k, { calls }) {
      await k.wait_for_completion(completionRef(BOOTED_COMPLETION));
      const out: unknown[] = [];
      for (const c of calls) out.push(await k.call(actorId(c.to), c.op, c.body));
      return out;
    },

    device_add: (k, { dev, match }) => deviceAdd(k, dev, match !== false),
    device_del: (k, { dev }) => withDevice(k, dev, (d) => deviceDel(k, d)),
    device_unregister: (k, { dev }) => withDevice(k, dev, (d) => deviceUnregister(k, d)),
    device_release_driver: kfunc('device_release_driver', { actor: 'driver-core', source: 'drivers/base/dd.c: device_release_driver' }, function deviceReleaseDriver(k: DK, { dev }: { readonly dev: string }) {
      return withDevice(k, dev, async (d) => {
        await deviceReleaseDriverInternal(k, d, null);
        return 0;
      });
    }),
    bind_store: (k, { dev, driver }) => bindStore(k, dev, driver),
    unbind_store: (k, { dev, driver }) => unbindStore(k, dev, driver),
    /** device_attach() = __device_attach(dev, false). */
    device_attach: kfunc('device_attach', { actor: 'driver-core', source: 'drivers/base/dd.c: device_attach' }, function deviceAttachEntry(k: DK, { dev }: { readonly dev: string }) {
      return withDevice(k, dev, (d) => deviceAttach(k, d, false));
    }),
    __device_attach_async_helper: (k, { dev }) => withDevice(k, dev, async (d) => {
      await deviceAttachAsyncHelper(k, d);
      return 0;
    }),
    driver_deferred_probe_trigger: async (k) => {
      await driverDeferredProbeTrigger(k);
      return 0;
    },
    deferred_probe_work_func: async (k) => {
      await deferredProbeWorkFunc(k);
      return 0;
    },
    bus_for_each_dev: (k, { bus, fn }) => busForEachDev(k, bus, fn),

    get_device: (k, { dev }) => withDevice(k, dev, (d) => {
      getDevice(k, d);
      return Promise.resolve(0);
    }),
    /**
     * The start of a sysfs attribute op of `dev` (a write to .../reset):
     * kernfs_get_active() (fs/kernfs/dir.c) fails once device_del() has
     * removed the device's sysfs directory (kobject_del), and while it is
     * held device_del() cannot finish (kernfs_drain), so the op's device
     * stays allocated. Modelled as: -ENODEV when unregistered, else a
     * device reference the op puts when it ends. kernfs's active count is
     * an atomic of the kernfs node, not a field of struct device; the
     * model reads its stand-in (`registered`, which device_del() clears
     * when it removes the directory) without an access event.
     */
    sysfs_get_device: kfunc('kernfs_get_active', { actor: 'driver-core', source: 'fs/kernfs/dir.c: kernfs_get_active' }, function kernfsGetActive(k: DK, { dev }: { readonly dev: string }) {
      const d = deviceOf(k, dev);
      if (d === null || isFreed(k, d) || !d.registered) return Promise.resolve(ENODEV());
      getDevice(k, d);
      return Promise.resolve(0);
    }),
    put_device: (k, { dev }) => withDevice(k, dev, async (d) => {
      await putDevice(k, d);
      return 0;
    }),

    /**
     * READ_ONCE(dev->driver) and what the caller derives from it: one
     * snapshot. `plain`: a plain load of the device_lock-guarded field by a
     * task that does not hold device_lock (the race checker reports it).
     */
    dev_driver_snapshot(k, { dev, plain }): DriverSnapshot {
      const d = deviceOf(k, dev);
      if (d === null) return { driver: null, driver_managed_dma: false };
      k.use(d.id, 'dev_driver_snapshot');
      const driver = k.read(d, 'driver', plain === true ? underDevice(d) : LOCKLESS);
      return { driver, driver_managed_dma: driverOf(k, driver)?.spec.driver_managed_dma ?? false };
    },

    /** iommu_init_device()'s call of dev->bus->dma_configure(dev): without device_lock. */
    bus_dma_configure: (k, { dev }) => withDevice(k, dev, (d) => busDmaConfigure(k, d)),

    /** dev->p->dead, read by a caller that holds device_lock (the "lock, then check it is not being deleted" idiom). */
    device_is_dead(k, { dev }): boolean {
      const d = deviceOf(k, dev);
      if (d === null) return true;
      return k.read(d, 'dead', underDevice(d));
    },

    /**
     * drivers/pci/pci.c pci_dev_save_and_disable() / pci_dev_restore():
     * "dev->driver->err_handler->reset_prepare() is protected against races
     * with ->remove() by the device lock, which must be held by the caller"
     * (device_lock_assert), so dev->driver is read under it.
     */
    async pci_err_handler_reset(k, { dev, which }) {
      const d = deviceOf(k, dev);
      if (d === null) return [];
      // device_lock_assert() is in pci_dev_save_and_disable() only; pci_dev_restore() relies on the same caller
      if (which === 'reset_prepare') await k.assertHeld(deviceLock(dev));
      const actions = driverOf(k, k.read(d, 'driver', underDevice(d)))?.spec[which];
      if (actions === undefined) return [];
      return runActionList(k, deviceScope(k, d), actions);
    },

    /** A work item of `dev`'s driver: no device_lock; a device without a driver has no driver code to run. */
    async driver_call(k, { dev, actions }) {
      const d = deviceOf(k, dev);
      if (d === null) return unboundResults(actions);
      k.use(d.id, 'driver_call');
      if (k.read(d, 'driver', LOCKLESS) === null) return unboundResults(actions);
      return runActionList(k, deviceScope(k, d), actions);
    },

    module_call: (k, { module, actions }) => runActionList(k, moduleScope(k, module), actions),

    /** A sysfs attribute read (open, read(2), close): the text, or an errno. */
    kernfs_fop_read_iter: (k, { path }) => kernfsFopRead(k, path),
    /** kernfs_drain()'s wait for a node's active references (actors/driver-core/kernfs.ts). */
    kernfs_drain_wait: (k, { path }) => kernfsDrainWait(k, path),
    /** A sysfs attribute write: bytes written, or an errno. */
    kernfs_fop_write_iter: (k, { path, value }) => kernfsFopWrite(k, path, value),
    sysfs_remove_dir: (k, { dir, key }) => sysfsRemoveDir(k, dir, key),
    /** finit_module(2): load a topology module, register its drivers (attaching matching devices). */
    load_module: (k, { module }) => loadModule(k, module),
    /** delete_module(2). */
    delete_module: (k, { module }) => deleteModule(k, module),
    /** try_module_get(dev->driver->owner) for a caller that holds dev's driver bound (vfio_df_device_first_open): true, or false when the module is going. */
    try_module_get_driver(k, { dev }): boolean {
      const d = deviceOf(k, dev);
      const drv = d === null ? null : driverOf(k, k.read(d, 'driver', LOCKLESS));
      return drv === null ? false : tryModuleGet(k, drv.module);
    },
    /** module_put() of the module of `driver` (the driver a try_module_get_driver pinned). */
    module_put_driver(k, { driver }): number {
      const drv = driverOf(k, driver);
      const mod = drv?.module === null || drv === null ? undefined : k.state.mods[drv.module];
      if (mod !== undefined) modulePut(k, mod);
      return 0;
    },
  },

  inspect: (s) => ({
    devices: Object.fromEntries(Object.values(s.devices).map((d) => [d.name, {
      bus: d.bus, driver: d.driver, ...(d.driver_override !== undefined ? { driver_override: d.driver_override } : {}), bound: d.bound, dead: d.dead, registered: d.registered,
      freed: s.freed.has(d.name), drvdata: d.drvdata, deferrals: d.deferrals,
    }])),
    buses: { pci: s.buses.pci.klist_devices.map((e) => e.dev), platform: s.buses.platform.klist_devices.map((e) => e.dev) },
    deferred: { pending: s.deferred.pending, active: s.deferred.active, trigger_count: s.deferred.trigger_count },
    drivers: Object.values(s.drivers).filter((d) => !d.freed).map((d) => ({ name: d.spec.name, bus: d.spec.bus, driver_managed_dma: d.driver_managed_dma, registered: d.klist, module: d.module })),
    modules: Object.fromEntries(Object.entries(s.modules).map(([name, m]) => [name, m.vars])),
    loaded: Object.fromEntries(Object.values(s.mods).map((m) => [m.name, { state: m.state, refcnt: m.refcnt }])),
    kernfs: Object.fromEntries(Object.values(s.kernfs).map((n) => [n.path, { active: n.active, deactivated: n.deactivated }])),
  }),
});

export default driverCore;
