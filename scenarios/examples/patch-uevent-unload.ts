/**
 * A uevent read racing a driver module's unload (issue 16 item 4). `cat
 * /sys/bus/pci/devices/<dev>/uevent` reads dev->driver and the driver's name;
 * rmmod of the driver's module frees both. 7.0's dev_driver_uevent() reads
 * them under the bus's klist_drivers k_lock (18daa52418e7 "driver core:
 * fix potential NULL pointer dereference in dev_uevent()"), which
 * bus_remove_driver() takes before driver_detach() and free_module()'s
 * synchronize_rcu() waits out; and bus_remove_driver() unbinds every device
 * (driver_detach) before the module memory goes.
 *
 * Two patches, each a single function:
 * - `uevent=unlocked`: dev_driver_uevent() as it was before the fix
 *   (`if (dev->driver) add_uevent_var(env, "DRIVER=%s", dev->driver->name)`):
 *   plain loads, no lock — the name is read from a freed module;
 * - `detach=skipped`: a driver_detach() that leaves the devices bound — the
 *   uevent reader follows dev->driver into freed memory even under the lock.
 *
 *   iommu-lab compare scenarios/examples/patch-uevent-unload.ts
 */
import { driverCore } from 'iommu-lab/patch';
import type { Patch } from 'iommu-lab/patch';

const RP = '0000:00:1c.0';
const NIC = '0000:01:00.0';

export default {
  name: 'example-patch-uevent-unload',
  title: 'a uevent read of a device while its driver module is unloaded',
  topology: {
    units: [{ name: 'vtd0', kind: 'vtd' }],
    pci: [
      { id: RP, bridge: true, acs: true, unit: 'vtd0', driver: 'pcieport' },
      { id: NIC, parent: RP, unit: 'vtd0', driver: 'nic' },
    ],
    drivers: [
      { name: 'pcieport', bus: 'pci' },
      { name: 'nic', bus: 'pci', module: 'nicmod' },
    ],
    modules: [{ name: 'nicmod' }],
  },
  variants: { uevent: ['upstream', 'unlocked'], detach: ['upstream', 'skipped'] },
  tasks: [
    { name: 'udev', ops: [{ op: 'sysfs.read', path: `/sys/bus/pci/devices/${NIC}/uevent` }] },
    { name: 'rmmod', ops: [{ op: 'module.unload', module: 'nicmod' }] },
  ],
  expect: [
    { when: { uevent: 'upstream', detach: 'upstream' }, findings: [] },
    { when: { uevent: 'unlocked', detach: 'upstream' }, includes: ['use-after-free'] },
    { when: { uevent: 'upstream', detach: 'skipped' }, includes: ['use-after-free'] },
    { when: { uevent: 'unlocked', detach: 'skipped' }, includes: ['use-after-free'] },
  ],
};

export const patches: Patch[] = [
  {
    name: 'uevent-unlocked',
    actor: 'driver-core',
    when: { uevent: 'unlocked' },
    functions: {
      /** dev_uevent() before 18daa52418e7: `if (dev->driver) add_uevent_var(env, "DRIVER=%s", dev->driver->name);` */
      async dev_driver_uevent(k: driverCore.DK, dev: driverCore.Device, env: string[]): Promise<void> {
        // two plain loads of a field device_lock guards, by a task that does not hold it
        if (k.read(dev, 'driver', driverCore.underDevice(dev)) === null) return;
        const drv = driverCore.driverOf(k, k.read(dev, 'driver', driverCore.underDevice(dev)));
        if (drv === null) return;
        await k.yield();
        env.push(`DRIVER=${driverCore.driverName(k, drv.id, drv.name_obj, drv.spec.name)}`);
      },
    },
  },
  {
    name: 'detach-skipped',
    actor: 'driver-core',
    when: { detach: 'skipped' },
    functions: {
      /** A driver_detach() that unbinds nothing: the module is freed while devices still point into it. */
      async driver_detach(): Promise<void> {},
    },
  },
];
