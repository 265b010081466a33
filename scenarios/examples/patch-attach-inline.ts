/**
 * Bug B14 as a patch (docs/kernel-facts.md §6 B14; "driver core: fix
 * deadlock in __device_attach", b232b02bf3c2, Fixes 765230b5f084): before
 * the fix, __device_attach() called async_schedule_dev() for an
 * asynchronous driver while it still held device_lock, and under memory
 * pressure (or with too many async items pending) the async core runs the
 * function synchronously: __device_attach_async_helper() takes device_lock
 * again in the same task. Upstream decides under the lock and schedules
 * after device_unlock().
 *
 * The patch replaces __device_attach() for an asynchronous driver and runs
 * the helper inline, as the degraded async_schedule_dev() did; any other
 * device goes to the upstream implementation it receives.
 *
 *   iommu-lab compare scenarios/examples/patch-attach-inline.ts
 */
import { driverCore } from 'iommu-lab/patch';
import type { Errno, Patch } from 'iommu-lab/patch';

const RP = '0000:00:1c.0';
const NIC = '0000:01:00.0';

type Attach = (k: driverCore.DK, dev: driverCore.Device, allowAsync: boolean) => Promise<1 | 0 | Errno>;

export default {
  name: 'example-patch-attach-inline',
  title: 'B14: async_schedule_dev() runs __device_attach_async_helper inline under device_lock',
  topology: {
    units: [{ name: 'vtd0', kind: 'vtd' }],
    pci: [
      { id: RP, bridge: true, acs: true, unit: 'vtd0', driver: 'pcieport' },
      // hot-added by the rescan below, probed by an asynchronous driver
      { id: NIC, parent: RP, unit: 'vtd0', driver: 'nic', hotplug: true },
    ],
    drivers: [{ name: 'pcieport', bus: 'pci' }, { name: 'nic', bus: 'pci', async: true }],
  },
  variants: { 'async-schedule': ['upstream', 'inline'] },
  tasks: [{ name: 'rescan', ops: [{ op: 'pci.rescan', dev: NIC }] }],
  expect: [
    { when: { 'async-schedule': 'upstream' }, findings: [] },
    // the helper's device_lock under the task's own: lockdep's recursive locking, and the task never ends
    { when: { 'async-schedule': 'inline' }, findings: ['recursive-locking', 'deadlock'] },
  ],
};

export const patches: Patch[] = [
  {
    name: 'async-inline',
    actor: 'driver-core',
    when: { 'async-schedule': 'inline' },
    functions: {
      /** __device_attach() before b232b02bf3c2, with async_schedule_dev() degraded to a synchronous call. */
      async __device_attach(k: driverCore.DK, dev: driverCore.Device, allowAsync: boolean, upstream: Attach): Promise<1 | 0 | Errno> {
        const drv = driverCore.overrideDriver(k, dev);
        if (!allowAsync || drv?.spec.async !== true) return upstream(k, dev, allowAsync);
        await k.lock(driverCore.DL(dev));
        driverCore.getDevice(k, dev);
        // async_schedule_dev(__device_attach_async_helper, dev) ran it here, device_lock still held
        await driverCore.deviceAttachAsyncHelper(k, dev);
        await k.unlock(driverCore.DL(dev));
        return 0;
      },
    },
  },
];
