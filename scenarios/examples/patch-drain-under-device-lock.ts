/**
 * The kernfs active reference as a lock (docs/kernel-facts.md §1.3): a
 * sysfs store that takes device_lock holds the attribute's kn->active
 * while it waits for device_lock, and device_del() drains kn->active. A
 * removal path that drained the device's files with device_lock held would
 * close the cycle device_lock → kn->active (the drain's write acquisition)
 * → device_lock (the store). 7.0's device_del() takes device_lock only
 * around kill_device() and removes the attributes after dropping it.
 *
 * The patch (`remove=locked`) is device_del() with device_lock held from
 * kill_device() across the attribute removal: lockdep reports the
 * inversion through kn->active#driver_override, and in the schedules where
 * the store already holds the active reference both block (a deadlock).
 * The model validates device_lock; the kernel's lockdep does not (its
 * novalidate class), which is why such cycles were found by hangs.
 *
 *   iommu-lab compare scenarios/examples/patch-drain-under-device-lock.ts
 */
import { driverCore } from 'iommu-lab/patch';
import type { Patch } from 'iommu-lab/patch';

const NIC = '0000:01:00.0';

export default {
  name: 'example-patch-drain-under-device-lock',
  title: 'a driver_override store racing a device_del that drains the device\'s files under device_lock',
  topology: {
    units: [{ name: 'vtd0', kind: 'vtd' }],
    pci: [{ id: NIC, unit: 'vtd0', driver: 'nic' }],
    drivers: [{ name: 'nic', bus: 'pci' }],
  },
  variants: { remove: ['upstream', 'locked'] },
  tasks: [
    { name: 'admin', ops: [{ op: 'sysfs.write', path: `/sys/bus/pci/devices/${NIC}/driver_override`, value: 'vfio-pci' }] },
    { name: 'remove', ops: [{ op: 'device.del', dev: NIC }] },
  ],
  expect: [
    { when: { remove: 'upstream' }, findings: [] },
    { when: { remove: 'locked' }, includes: ['lock-order-inversion'] },
  ],
};

export const patches: Patch[] = [
  {
    name: 'drain-under-device-lock',
    actor: 'driver-core',
    when: { remove: 'locked' },
    functions: {
      /** device_del() holding device_lock from kill_device() across the removal of the device's attributes. */
      async device_del(k: driverCore.DK, dev: driverCore.Device): Promise<0> {
        k.use(dev.id, 'device_del');
        const g = driverCore.underDevice(dev);
        await k.lock(driverCore.DL(dev));
        if (!k.read(dev, 'dead', g)) k.write(dev, 'dead', true, g);
        await driverCore.busNotify(k, dev, 'DEL_DEVICE');
        k.state.sysfsRemoved.add(dev.name);
        await driverCore.kernfsRemove(k, driverCore.sysfsDeviceDir(dev));
        await k.unlock(driverCore.DL(dev));
        await driverCore.klistDelDevice(k, dev);
        await driverCore.deviceReleaseDriverInternal(k, dev, null);
        await driverCore.driverDeferredProbeDel(k, dev);
        await driverCore.busNotify(k, dev, 'REMOVED_DEVICE');
        k.write(dev, 'registered', false);
        return 0;
      },
    },
  },
];
