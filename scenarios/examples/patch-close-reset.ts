/**
 * Bug B10 as a patch (docs/kernel-facts.md §6 B10; "vfio-pci: Avoid
 * deadlock on remove", d24cdbfd28b7): before the fix, vfio-pci's release
 * path reset the device with a blocking pci_reset_function(), which takes
 * device_lock. A sysfs unbind holds device_lock while
 * vfio_unregister_group_dev() waits for userspace to close the device fd;
 * the close then waits for device_lock: a deadlock. Upstream
 * (vfio_pci_core_close_device → vfio_pci_core_disable) uses
 * pci_dev_trylock() and skips the reset on contention.
 *
 * The patch replaces only vfio_pci_core_close_device()'s reset choice (the
 * function the fix changed); everything it calls and everything that calls
 * it stay upstream.
 *
 *   iommu-lab compare scenarios/examples/patch-close-reset.ts
 */
import { PCI, igateLock, isErrno, vfio } from 'iommu-lab/patch';
import type { Errno, Patch } from 'iommu-lab/patch';

const RP = '0000:00:1c.0';
const EP = '0000:01:00.0';

export default {
  name: 'example-patch-close-reset',
  title: 'B10: a blocking reset in vfio-pci close while a sysfs unbind waits for the close',
  topology: {
    units: [{ name: 'vtd0', kind: 'vtd' }],
    pci: [
      { id: RP, bridge: true, acs: true, unit: 'vtd0', driver: 'pcieport' },
      { id: EP, parent: RP, unit: 'vtd0', driver: 'vfio-pci' },
    ],
    drivers: [
      { name: 'pcieport', bus: 'pci' },
      {
        name: 'vfio-pci', bus: 'pci', driver_managed_dma: true,
        probe: [{ do: 'vfio_register_group_dev' }], remove: [{ do: 'vfio_unregister_group_dev' }],
      },
    ],
  },
  variants: { 'close-reset': ['upstream', 'blocking'] },
  tasks: [],
  processes: [
    {
      // QEMU holds the device and closes it when the unbind asks (the request eventfd)
      name: 'qemu', onRequest: 'close',
      ops: [
        { op: 'vfio.group.open', dev: EP, as: 'group' },
        { op: 'vfio.container.open', as: 'container' },
        { op: 'ioctl', fd: 'group', cmd: 'VFIO_GROUP_SET_CONTAINER', container: 'container' },
        { op: 'ioctl', fd: 'container', cmd: 'VFIO_SET_IOMMU' },
        { op: 'ioctl', fd: 'group', cmd: 'VFIO_GROUP_GET_DEVICE_FD', dev: EP, as: 'device' },
        { op: 'ioctl', fd: 'device', cmd: 'VFIO_DEVICE_SET_IRQS', index: 'REQ' },
        { op: 'proc.post', event: 'ready' },
        { op: 'proc.wait', event: 'unbound' },
      ],
    },
    // the administrator unbinds vfio-pci from the device while QEMU holds it
    { name: 'admin', ops: [{ op: 'proc.wait', event: 'ready' }, { op: 'driver.unbind', dev: EP, driver: 'vfio-pci' }, { op: 'proc.post', event: 'unbound' }] },
  ],
  expect: [
    { when: { 'close-reset': 'upstream' }, findings: [] },
    // the remover's wait for the close under device_lock, and the close's device_lock: lockdep sees the cycle too
    { when: { 'close-reset': 'blocking' }, findings: ['deadlock', 'lock-order-inversion'] },
  ],
};

export const patches: Patch[] = [
  {
    name: 'blocking-reset',
    actor: 'vfio',
    when: { 'close-reset': 'blocking' },
    functions: {
      /** vfio_pci_core_close_device() before d24cdbfd28b7: the reset takes device_lock, blocking. */
      async vfio_pci_core_close_device(k: vfio.VK, vdev: vfio.VfioDevice): Promise<void> {
        const sl = vfio.underDevSet(vdev.dev_set);
        k.write(vdev, 'needs_reset', true, sl);
        if (k.read(vdev, 'reset_works', sl)) {
          const r = await k.call<0 | Errno>(PCI, 'pci_reset_function', { dev: vdev.dev });
          if (!isErrno(r)) k.write(vdev, 'needs_reset', false, sl);
        }
        await k.lock(igateLock(vdev.id));
        k.write(vdev, 'req_trigger', null, vfio.underIgate(vdev.id));
        await k.unlock(igateLock(vdev.id));
      },
    },
  },
];
