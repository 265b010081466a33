import { DRIVER_CORE } from '../../protocol/kernel.ts';
import type { DriverSpec, Topology } from '../../protocol/topology.ts';
import type { ProcessSpec } from '../../protocol/vfio.ts';
import { kernelCheckers } from '../kernel/checkers.ts';
import { kernelProgram } from '../kernel/program.ts';
import type { Scenario } from '../scenario.ts';
import { FN0, FN1, MACHINE, RP2 } from './machine.ts';

/**
 * Seed 000 (2021, "iommu: Add iommu_device_init[exit]_user_dma
 * interfaces"): the RFC checks a group's viability by reading each member's
 * dev->driver without its device_lock ("isn't locked properly or safe").
 * Userspace claims a two-function group through VFIO while the driver core
 * binds a kernel driver, which then does DMA, to the sibling function.
 */

/** vfio-pci registers the device with VFIO in probe and unregisters it in remove (docs/vfio.md). */
export const VFIO_PCI: DriverSpec = {
  name: 'vfio-pci', bus: 'pci', driver_managed_dma: true,
  probe: [{ do: 'vfio_register_group_dev' }], remove: [{ do: 'vfio_unregister_group_dev' }],
};

/**
 * MACHINE's two-function device (one group: no ACS between the functions)
 * and its root port, FN0 handed to vfio-pci, FN1 left unbound (the scenario
 * binds a driver to it). The rest of MACHINE plays no part here.
 */
export const SEED000_MACHINE: Topology = {
  units: MACHINE.units,
  pci: MACHINE.pci.filter((d) => [RP2, FN0, FN1].includes(d.bdf)).map((d) => (d.bdf === FN0 ? { ...d, driver: 'vfio-pci' } : d)),
  drivers: [...MACHINE.drivers.filter((d) => d.name !== 'vfio-pci'), VFIO_PCI],
};

/**
 * QEMU: the legacy group + type1 path (VFIO_GROUP_SET_CONTAINER claims the
 * group), a mapping and a device DMA, then exit (which releases the group).
 */
const QEMU: ProcessSpec = {
  name: 'qemu',
  ops: [
    { do: 'open', path: { kind: 'group', dev: FN0 }, as: 'group' },
    { do: 'open', path: { kind: 'container' }, as: 'container' },
    { do: 'ioctl', fd: 'group', ioctl: { cmd: 'VFIO_GROUP_SET_CONTAINER', container: 'container' } },
    { do: 'ioctl', fd: 'container', ioctl: { cmd: 'VFIO_SET_IOMMU' } },
    { do: 'ioctl', fd: 'group', ioctl: { cmd: 'VFIO_GROUP_GET_DEVICE_FD', dev: FN0 }, as: 'device' },
    { do: 'ioctl', fd: 'container', ioctl: { cmd: 'VFIO_IOMMU_MAP_DMA', iova: 0x1000, vaddr: 1 } },
    { do: 'dma', fd: 'device', iova: 0x1000 },
  ],
};

/** sysfs bind of the kernel driver "nic" to the sibling, then the driver maps a buffer and the device DMAs to it. */
const BIND_AND_DMA = [
  { to: DRIVER_CORE, op: 'bind_store', body: { dev: FN1, driver: 'nic' } },
  { to: DRIVER_CORE, op: 'driver_call', body: { dev: FN1, actions: [{ do: 'dma_map', as: 'iova' }, { do: 'dma', iova: 'iova' }] } },
];

export const seed000SiblingBind: Scenario = {
  name: 'seed-000-sibling-bind',
  title: 'VFIO claims a group while a kernel driver binds to the sibling function and does DMA',
  variants: { 'dma-owner': ['viable-scan-unlocked', 'notifier-bug-on', 'owner-cnt'] },
  program: (v) => kernelProgram({
    name: 'seed-000', topology: SEED000_MACHINE, variants: v,
    tasks: [{ id: 'bind', calls: BIND_AND_DMA }],
    processes: [QEMU],
  }),
  expect: [
    // data-race too (the table lists only the first two): every schedule in which the scan misses the
    // bind has the scan's load of dev->driver unordered with really_probe's store, the pair KCSAN reports.
    // In the RFC's kernel (v5.15) really_probe() stored `dev->driver = drv` plainly under device_lock and the
    // RFC read it with READ_ONCE without it; the model has the marking the other way round (7.0's
    // device_set_driver() WRITE_ONCE, a plain load in the scan), the same racing pair.
    { when: { 'dma-owner': 'viable-scan-unlocked' }, findings: ['isolation-breach', 'unguarded-access', 'data-race'] },
    { when: { 'dma-owner': 'notifier-bug-on' }, findings: ['kernel-bug'] },
    { when: { 'dma-owner': 'owner-cnt' }, findings: [] },
  ],
  checkers: () => kernelCheckers({ invariants: { skip: ['owner-cnt', 'user-owner-no-kernel-driver'] } }),
};
