import type { Topology } from '../../protocol/topology.ts';
import { scenarioFromDocument } from '../format/document.ts';
import type { Scenario } from '../scenario.ts';
import { documentTopology } from '../seeds/machine.ts';
import { VFIO_PCI } from '../seeds/seed-000.ts';

/**
 * The lab's own upstream finding (issue 15 item 8 a), no upstream report found:
 * a container ioctl runs the type1 backend on an iommu that the last group's
 * detach frees under it.
 *
 * drivers/vfio/container.c, vfio_fops_unl_ioctl(), `default:` case (7.0):
 *
 *     driver = container->iommu_driver;
 *     data = container->iommu_data;
 *     if (driver) // passthrough all unrecognized ioctls
 *             ret = driver->ops->ioctl(data, cmd, arg);
 *
 * No container->group_lock is held (VFIO_CHECK_EXTENSION and VFIO_SET_IOMMU
 * in the same file do take it: vfio_container_ioctl_check_extension() holds
 * down_read(&container->group_lock), vfio_ioctl_set_iommu() down_write).
 *
 * drivers/vfio/container.c, vfio_group_detach_container(), under
 * group->group_lock (lockdep_assert_held) and down_write(&container->group_lock):
 *
 *     (comment: "Detaching the last group deprivileges a container, remove iommu")
 *     if (driver && list_empty(&container->group_list)) {
 *             driver->ops->release(container->iommu_data);
 *
 * drivers/vfio/vfio_iommu_type1.c, vfio_iommu_type1_release():
 * vfio_iommu_unmap_unpin_all(iommu) (no iommu->lock), the domains released,
 * then kfree(iommu). Since 6.2 vfio_device_remove_group()
 * (drivers/vfio/group.c) calls vfio_group_detach_container() when the last
 * device of the group goes away, under group->group_lock: a sysfs unbind of
 * vfio-pci (or a hot-remove) is enough, while the user still holds the group
 * and container fds. Group fd close and VFIO_GROUP_UNSET_CONTAINER reach the
 * same detach.
 *
 * So a VFIO_IOMMU_MAP_DMA that read iommu_data before the detach runs
 * vfio_iommu_type1_ioctl() → vfio_dma_do_map() → mutex_lock(&iommu->lock)
 * in freed memory (or races the unmap-all); copy_from_user() of the map
 * argument before the lock widens the window. The model reports it as a
 * KASAN slab-use-after-free of the vfio_iommu in the MAP_DMA path.
 *
 * Candidate fix (variant `container-ioctl=group-lock-read`): hold
 * down_read(&container->group_lock) around the passthrough; the detach's
 * down_write then waits for the ioctl, and an ioctl after it sees no driver
 * (-EINVAL). Lock order group_lock → iommu->lock is the one
 * vfio_group_detach_container() → vfio_iommu_type1_detach_group() already
 * establishes, so the fix adds no inversion.
 */

const DEV = '0000:00:04.0';

const MACHINE: Topology = {
  units: [{ name: 'vtd0', kind: 'vtd' }],
  pci: [{ bdf: DEV, unit: 'vtd0', driver: 'vfio-pci' }],
  drivers: [VFIO_PCI],
};

export const VFIO_CONTAINER_IOCTL_DOCUMENT = {
  name: 'upstream-vfio-container-ioctl',
  title: 'VFIO_IOMMU_MAP_DMA on a container whose last group is detached (type1 freed) concurrently',
  topology: documentTopology(MACHINE),
  variants: { 'container-ioctl': ['unlocked-passthrough', 'group-lock-read'] },
  // the last device of the group leaves: vfio_unregister_group_dev() → vfio_device_remove_group() →
  // vfio_group_detach_container() → vfio_iommu_type1_release()
  tasks: [{ name: 'unbind', ops: [{ op: 'driver.unbind', dev: DEV, driver: 'vfio-pci' }] }],
  // QEMU: legacy group + container, type1, then a DMA mapping through the container passthrough
  processes: [
    {
      name: 'qemu', ops: [
        { op: 'vfio.group.open', dev: DEV, as: 'group' },
        { op: 'vfio.container.open', as: 'container' },
        { op: 'ioctl', fd: 'group', cmd: 'VFIO_GROUP_SET_CONTAINER', container: 'container' },
        { op: 'ioctl', fd: 'container', cmd: 'VFIO_SET_IOMMU' },
        { op: 'ioctl', fd: 'container', cmd: 'VFIO_IOMMU_MAP_DMA', iova: 0x1000, vaddr: 1 },
      ],
    },
  ],
  expect: [
    // one bug, three views: KCSAN on the unlocked iommu_driver/iommu_data loads, the detach freeing the
    // vfio_iommu while MAP_DMA holds its lock (held lock freed), and KASAN on the freed iommu
    { when: { 'container-ioctl': 'unlocked-passthrough' }, findings: ['data-race', 'lock-misuse', 'use-after-free'] },
    { when: { 'container-ioctl': 'group-lock-read' }, findings: [] },
  ],
};

export const upstreamVfioContainerIoctl: Scenario = scenarioFromDocument(VFIO_CONTAINER_IOCTL_DOCUMENT, 'scenarios/upstream/vfio-container-ioctl.ts');
