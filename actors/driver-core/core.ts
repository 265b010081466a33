import { errno } from '../../protocol/errno.ts';
import type { Errno } from '../../protocol/errno.ts';
import { busOf, pciSpec } from '../../protocol/topology.ts';
import type { DriverSpec } from '../../protocol/topology.ts';
import { busNotify, klistAddDevice, klistDelDevice } from './bus.ts';
import { busProbeDevice, deviceReleaseDriverInternal } from './dd.ts';
import { driverDeferredProbeDel } from './deferred.ts';
import { DL, isFreed, putDevice, underDevice } from './state.ts';
import type { DK, Device, DeviceDriver } from './state.ts';
import { kfunc } from '../../runtime/kfunc.ts';
import { kernfsRemove } from './kernfs.ts';

/** A device's sysfs directory, as its attribute paths begin. */
export const sysfsDeviceDir = (dev: Device): string => `/sys/bus/${dev.bus}/devices/${dev.name}/`;

/**
 * struct device's life (drivers/base/core.c; docs/kernel-facts.md §3.7):
 * device_add, device_del, device_unregister; driver_register
 * (drivers/base/driver.c) for the drivers.
 */

/**
 * device_add(): kobject_add (device_is_registered() from here) →
 * bus_add_device() (on the bus klist: visible to bus_for_each_dev) →
 * BUS_NOTIFY_ADD_DEVICE (iommu_probe_device) → bus_probe_device()
 * (driver match and probe). Errors of the notifier and of the probe do not
 * fail device_add().
 */
export const deviceAdd = kfunc('device_add', { actor: 'driver-core', source: 'drivers/base/core.c: device_add' }, async function deviceAdd(k: DK, name: string, matchDriver: boolean): Promise<0 | Errno> {
  const bus = busOf(k.state.topology, name);
  if (bus === null) return errno('ENODEV');
  const old = k.state.devices[name];
  // kobject_add() of a name still in sysfs fails; a device deleted but still
  // referenced would be a second struct device of the same name, which the
  // model (devices are named by their kernel name) cannot hold: refused too.
  if (old !== undefined && !isFreed(k, old)) return errno('EEXIST');
  const dev: Device = {
    id: k.alloc('device', name), name, bus,
    driver: null, bound: false, dead: false, registered: false, drvdata: {}, deferrals: {},
    ...(bus === 'pci' && pciSpec(k.state.topology, name)?.physfn !== undefined ? { virtfn: true as const } : {}),
  };
  k.state.devices[name] = dev;
  k.state.freed.delete(name);
  k.state.sysfsRemoved.delete(name);
  k.write(dev, 'registered', true);
  await klistAddDevice(k, dev);
  await busNotify(k, dev, 'ADD_DEVICE');
  // bus_probe_device() → device_initial_probe() does nothing while dev->match_driver is false (pci_device_add)
  if (matchDriver) await busProbeDevice(k, dev);
  return 0;
});

/**
 * device_del(): device_lock + kill_device() (p->dead: no new binds) +
 * unlock → BUS_NOTIFY_DEL_DEVICE → the attributes removed (kernfs_drain
 * waits for every show/store in progress) → bus_remove_device() (klist_del, then
 * device_release_driver()) → driver_deferred_probe_del() →
 * BUS_NOTIFY_REMOVED_DEVICE (iommu_release_device) → kobject_del.
 */
export const deviceDel = kfunc('device_del', { actor: 'driver-core', source: 'drivers/base/core.c: device_del' }, async function deviceDel(k: DK, dev: Device): Promise<0> {
  k.use(dev.id, 'device_del');
  const g = underDevice(dev);
  await k.lock(DL(dev));
  if (!k.read(dev, 'dead', g)) k.write(dev, 'dead', true, g);
  await k.unlock(DL(dev));
  await busNotify(k, dev, 'DEL_DEVICE');
  // device_remove_file(dev_attr_uevent), device_remove_attrs(), the bus's dev_groups: each attribute's
  // node is deactivated and drained (kernfs_remove → __kernfs_remove → kernfs_drain) before the unbind
  k.state.sysfsRemoved.add(dev.name);
  await kernfsRemove(k, sysfsDeviceDir(dev));
  await klistDelDevice(k, dev);
  await deviceReleaseDriverInternal(k, dev, null);
  await driverDeferredProbeDel(k, dev);
  await busNotify(k, dev, 'REMOVED_DEVICE');
  k.write(dev, 'registered', false);
  return 0;
});

/** device_unregister(): device_del() + put_device() of the creator's reference. */
export const deviceUnregister = kfunc('device_unregister', { actor: 'driver-core', source: 'drivers/base/core.c: device_unregister' }, async function deviceUnregister(k: DK, dev: Device): Promise<0> {
  await deviceDel(k, dev);
  await putDevice(k, dev);
  return 0;
});

/**
 * driver_register() → bus_add_driver(): the struct (and, for a module's
 * driver, its name string: module memory) becomes an object, goes on the
 * bus's klist_drivers (matchable and bindable from here). At boot no device
 * exists yet, so driver_attach() finds nothing; a module loaded later
 * attaches (actors/driver-core/module.ts driverAttach).
 */
export const driverRegister = kfunc('driver_register', { actor: 'driver-core', source: 'drivers/base/driver.c: driver_register' }, function driverRegister(k: DK, spec: DriverSpec): DeviceDriver | null {
  const old = k.state.drivers[spec.name];
  if (old !== undefined && !old.freed) return null; // "driver already registered": -EBUSY
  const module = spec.module ?? null;
  const drv: DeviceDriver = {
    id: k.alloc('device_driver', `driver:${spec.name}`), spec, driver_managed_dma: false, module,
    name_obj: module === null ? null : k.alloc('module_data', `driver:${spec.name}.name`), klist: true, freed: false,
  };
  k.state.drivers[spec.name] = drv;
  k.state.sysfsRemoved.delete(`driver:${spec.name}`); // add_bind_files(): a fresh directory
  k.write(drv, 'driver_managed_dma', spec.driver_managed_dma ?? false);
  return drv;
});
