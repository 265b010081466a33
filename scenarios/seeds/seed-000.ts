import type { DriverSpec, Topology } from '../../protocol/topology.ts';
import { scenarioFromDocument } from '../format/document.ts';
import type { Scenario } from '../scenario.ts';
import { MACHINE, documentTopology } from './machine.ts';

/**
 * Seed 000 (2021, "iommu: Add iommu_device_init[exit]_user_dma
 * interfaces"): the RFC checks a group's viability by reading each member's
 * dev->driver without its device_lock ("isn't locked properly or safe").
 * Userspace claims a two-function group through VFIO while the driver core
 * binds a kernel driver to the sibling function, which then does DMA.
 * Written as a scenario document: `show` prints it, `run` takes it back.
 */

/** vfio-pci registers the device with VFIO in probe and unregisters it in remove (docs/vfio.md). */
export const VFIO_PCI: DriverSpec = {
  name: 'vfio-pci', bus: 'pci', driver_managed_dma: true,
  probe: [{ do: 'vfio_register_group_dev' }], remove: [{ do: 'vfio_unregister_group_dev' }],
};

/** Two functions of one device on the root bus, without ACS between them: one iommu group. */
export const F0 = '0000:00:04.0';
export const F1 = '0000:00:04.1';

/**
 * MACHINE's VT-d unit and a two-function device: F0 handed to vfio-pci, F1
 * left unbound (the scenario binds a driver to it). Nothing else: every
 * device more is boot work in every schedule.
 */
export const SEED000_MACHINE: Topology = {
  units: MACHINE.units,
  pci: [
    { bdf: F0, unit: 'vtd0', ats: true, driver: 'vfio-pci' },
    { bdf: F1, unit: 'vtd0', ats: true },
  ],
  drivers: [{ name: 'nic', bus: 'pci' }, VFIO_PCI],
};

export const SEED000_DOCUMENT = {
  name: 'seed-000-sibling-bind',
  title: 'VFIO claims a group while a kernel driver binds to the sibling function and does DMA',
  topology: documentTopology(SEED000_MACHINE),
  variants: { 'dma-owner': ['viable-scan-unlocked', 'notifier-bug-on', 'owner-cnt'] },
  tasks: [
    // sysfs bind of the kernel driver "nic" to the sibling; then the driver maps a buffer and the device DMAs to it
    {
      name: 'bind', ops: [
        { op: 'driver.bind', dev: F1, driver: 'nic' },
        { op: 'driver.call', dev: F1, actions: [{ do: 'dma_map', as: 'iova' }, { do: 'dma', iova: 'iova' }] },
      ],
    },
  ],
  // QEMU: the legacy group + type1 path (VFIO_GROUP_SET_CONTAINER claims the group) and a mapping, then exit
  // (which releases the group)
  processes: [
    {
      name: 'qemu', ops: [
        { op: 'vfio.group.open', dev: F0, as: 'group' },
        { op: 'vfio.container.open', as: 'container' },
        { op: 'ioctl', fd: 'group', cmd: 'VFIO_GROUP_SET_CONTAINER', container: 'container' },
        { op: 'ioctl', fd: 'container', cmd: 'VFIO_SET_IOMMU' },
        { op: 'ioctl', fd: 'container', cmd: 'VFIO_IOMMU_MAP_DMA', iova: 0x1000, vaddr: 1 },
      ],
    },
  ],
  // The historic designs keep no owner_cnt of kernel drivers (§8.2 item 4) and the RFC's lets a kernel driver
  // into a user-owned group (item 3) by design; the isolation checker judges what that leads to, on every variant.
  checkers: { skip_invariants: ['owner-cnt', 'user-owner-no-kernel-driver'] },
  expect: [
    // data-race too (the table lists only the first two): every schedule in which the scan misses the
    // bind has the scan's load of dev->driver unordered with really_probe's store, the pair KCSAN reports.
    // In the RFC's kernel (v5.15) really_probe() stored `dev->driver = drv` plainly under device_lock and the
    // RFC read it with READ_ONCE without it; the model has the marking the other way round (7.0's
    // device_set_driver() WRITE_ONCE, a plain load in the scan), the same racing pair.
    { when: { 'dma-owner': 'viable-scan-unlocked' }, findings: ['isolation-breach', 'unguarded-access', 'data-race'] },
    { when: { 'dma-owner': 'notifier-bug-on' }, findings: ['kernel-bug'] },
    // 5.19+: the bind gets -EBUSY (the group is user-owned) or SET_CONTAINER -EPERM (a kernel driver is bound)
    { when: { 'dma-owner': 'owner-cnt' }, findings: [] },
  ],
};

export const seed000SiblingBind: Scenario = scenarioFromDocument(SEED000_DOCUMENT, 'scenarios/seeds/seed-000.ts');
