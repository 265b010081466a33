import { errno, isErrno } from '../../protocol/errno.ts';
import type { Errno } from '../../protocol/errno.ts';
import { DRIVER_CORE } from '../../protocol/kernel.ts';
import { pciRescanRemoveLock } from '../../protocol/lock-classes.ts';
import { devOf, presentOf, setAdded, setOnBus } from './state.ts';
import type { K } from './state.ts';
import { bootDevices, isVirtfn, parentsFirst, removeOrder, stopOrder, subtree, upstreamBridge } from './topology.ts';
import { kfunc } from '../../runtime/kfunc.ts';

/**
 * Enumeration, rescan and removal (drivers/pci/probe.c, bus.c, remove.c).
 * Every topology change runs under pci_rescan_remove_lock; the bus lists
 * themselves change under pci_bus_sem (state.ts setOnBus).
 */

/**
 * pci_device_add() + pci_bus_add_device(): the device goes on its bus list
 * (under pci_bus_sem), into the driver core (device_add:
 * BUS_NOTIFY_ADD_DEVICE → IOMMU probe, then driver matching), and is marked
 * added. A device_add() failure is a WARN, as in pci_device_add(); the model
 * then takes the device off the list again, so the lists only ever name
 * devices driver-core knows.
 */
export const pciDeviceAdd = kfunc('pci_device_add', { actor: 'pci', source: 'drivers/pci/probe.c: pci_device_add' }, async function pciDeviceAdd(k: K, bdf: string): Promise<void> {
  const pd = devOf(k, bdf);
  if (pd === undefined) return;
  await setOnBus(k, bdf, true);
  const ret = await k.call<unknown>(DRIVER_CORE, 'device_add', { dev: bdf });
  if (isErrno(ret)) {
    k.warn(`pci_device_add: device_add(${bdf}) failed: -${ret.errno}`);
    await setOnBus(k, bdf, false);
    return;
  }
  await setAdded(k, pd, true);
});

/**
 * Boot enumeration. drivers/acpi/pci_root.c acpi_pci_root_add() adds the
 * scanned hierarchy with pci_lock_rescan_remove() held
 * (pci_bus_add_devices()); parents come before children.
 */
export const pciScanRootBus = kfunc('acpi_pci_root_add', { actor: 'pci', source: 'drivers/acpi/pci_root.c: acpi_pci_root_add' }, async function pciScanRootBus(k: K): Promise<0> {
  await k.lock(pciRescanRemoveLock());
  for (const d of bootDevices(k.state.topo)) await pciDeviceAdd(k, d);
  await k.unlock(pciRescanRemoveLock());
  return 0;
});

/**
 * sysfs rescan (drivers/pci/pci-sysfs.c rescan_store → pci_rescan_bus):
 * under pci_rescan_remove_lock, scan for `dev` and whatever below it is not
 * on a bus list yet, and add them parents first. Like the kernel's rescan it
 * is idempotent: a device already present is left alone and its missing
 * children are still added (a device removed through sysfs comes back this
 * way). -ENODEV when `dev` is not a PCI device of the topology, or its
 * upstream bridge is not present (there is no bus to scan).
 */
export const pciRescanBus = kfunc('pci_rescan_bus', { actor: 'pci', source: 'drivers/pci/probe.c: pci_rescan_bus' }, async function pciRescanBus(k: K, dev: string): Promise<0 | Errno> {
  if (devOf(k, dev) === undefined) return errno('ENODEV');
  const pt = k.state.topo;
  await k.lock(pciRescanRemoveLock());
  const bridge = upstreamBridge(pt, dev);
  const below = subtree(pt, dev);
  const present = await presentOf(k, bridge === null ? below : [bridge, ...below]);
  let ret: 0 | Errno = 0;
  if (bridge !== null && !present.has(bridge)) ret = errno('ENODEV');
  // a scan does not find VFs: only the PF's sriov_enable() adds them (pci_iov_add_virtfn)
  else for (const d of parentsFirst(pt, below.filter((x) => !present.has(x) && !isVirtfn(pt, x)))) await pciDeviceAdd(k, d);
  await k.unlock(pciRescanRemoveLock());
  return ret;
});

/**
 * drivers/pci/remove.c pci_stop_and_remove_bus_device(): the caller holds
 * pci_rescan_remove_lock (lockdep_assert_held in the kernel). First every
 * driver of the subtree is unbound (pci_stop_bus_device: deepest first,
 * siblings in reverse), then every device is deleted (pci_remove_bus_device:
 * children first). Devices that are already gone are skipped
 * (pci_dev_is_added / pci_dev_test_and_set_removed).
 */
export const pciStopAndRemoveBusDevice = kfunc('pci_stop_and_remove_bus_device', { actor: 'pci', source: 'drivers/pci/remove.c: pci_stop_and_remove_bus_device' }, async function pciStopAndRemoveBusDevice(k: K, dev: string): Promise<void> {
  await k.assertHeld(pciRescanRemoveLock());
  const pt = k.state.topo;
  const present = await presentOf(k, subtree(pt, dev));
  // pci_stop_dev(): device_release_driver() takes device_lock: pci_rescan_remove_lock → device_lock (§1.2 edge 2)
  for (const d of stopOrder(pt, dev)) {
    const pd = devOf(k, d);
    if (pd === undefined || !present.has(d)) continue;
    await k.call(DRIVER_CORE, 'device_release_driver', { dev: d });
    await setAdded(k, pd, false);
  }
  // pci_destroy_dev(): device_del(), list_del() under pci_bus_sem, put_device(): the
  // driver core's device_unregister() split where the kernel splits it, so the device
  // is off its bus list before the last reference can free it
  for (const d of removeOrder(pt, dev)) {
    if (!present.has(d)) continue;
    await k.call(DRIVER_CORE, 'device_del', { dev: d });
    await setOnBus(k, d, false);
    await k.call(DRIVER_CORE, 'put_device', { dev: d });
  }
});

/**
 * sysfs remove (remove_store → pci_stop_and_remove_bus_device_locked()).
 * -ENODEV for a device that is not present (it has no sysfs file to write).
 */
export const pciStopAndRemoveBusDeviceLocked = kfunc('pci_stop_and_remove_bus_device_locked', { actor: 'pci', source: 'drivers/pci/remove.c: pci_stop_and_remove_bus_device_locked' }, async function pciStopAndRemoveBusDeviceLocked(k: K, dev: string): Promise<0 | Errno> {
  if (devOf(k, dev) === undefined) return errno('ENODEV');
  await k.lock(pciRescanRemoveLock());
  const present = await presentOf(k, [dev]);
  if (present.has(dev)) await pciStopAndRemoveBusDevice(k, dev);
  await k.unlock(pciRescanRemoveLock());
  return present.has(dev) ? 0 : errno('ENODEV');
});
