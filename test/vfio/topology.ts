import type { DriverSpec, Topology } from '../../protocol/topology.ts';

/**
 * The machine the VFIO tests boot: one VT-d unit; endpoints bound to
 * vfio-pci in every shape VFIO cares about.
 * - EP: alone below an ACS root port: a singleton group and a device set of
 *   its own bus (hot reset possible), ATS + PASID;
 * - FN0/FN1/FN2: three functions without ACS: one iommu group; FN0 and FN1
 *   are bound to vfio-pci (one device set), FN2 to nothing (a kernel driver
 *   bound to it later is refused while userspace owns the group);
 * - KFN0 (kernel driver "nic") / KFN1 (vfio-pci): a group shared with a
 *   kernel driver (claims -EPERM, hot reset -EINVAL);
 * - SA/SB: two devices below one ACS bridge: two iommu groups, one device
 *   set (a hot reset of one touches the other);
 * - ROOT: on the root bus (no bus or slot reset: hot reset -ENODEV);
 * - NORESET: no reset method (VFIO_DEVICE_RESET -EINVAL);
 * - RMRR: require_direct (the blocking domain is refused: claims -EINVAL);
 * - NOIOMMU: behind no IOMMU (vfio-pci's probe fails: no /dev/vfio node);
 * - SLOTDEV: in pciehp slot "s1" (surprise removal);
 * - FREE: no driver (bind tests).
 */
export const RP1 = '0000:00:1c.0';
export const EP = '0000:01:00.0';
export const RP2 = '0000:00:1d.0';
export const FN0 = '0000:02:00.0';
export const FN1 = '0000:02:00.1';
export const FN2 = '0000:02:00.2';
export const RP3 = '0000:00:1e.0';
export const KFN0 = '0000:03:00.0';
export const KFN1 = '0000:03:00.1';
export const RP4 = '0000:00:1b.0';
export const RMRR = '0000:04:00.0';
export const RP5 = '0000:00:17.0';
export const SLOTDEV = '0000:05:00.0';
export const RP6 = '0000:00:16.0';
export const SA = '0000:06:00.0';
export const SB = '0000:06:01.0';
export const ROOT = '0000:00:1f.0';
export const NORESET = '0000:00:1a.0';
export const NOIOMMU = '0000:00:19.0';
export const FREE = '0000:00:18.0';

export const VFIO_PCI: DriverSpec = {
  name: 'vfio-pci', bus: 'pci', driver_managed_dma: true,
  probe: [{ do: 'vfio_register_group_dev' }],
  remove: [{ do: 'vfio_unregister_group_dev' }],
};

export const TOPOLOGY: Topology = {
  units: [{ name: 'vtd0', kind: 'vtd', max_pasids: 1 << 20 }],
  pci: [
    { bdf: RP1, bridge: true, acs: true, unit: 'vtd0', driver: 'pcieport' },
    { bdf: EP, parent: RP1, unit: 'vtd0', ats: true, pasid_bits: 20, driver: 'vfio-pci' },
    { bdf: RP2, bridge: true, acs: true, unit: 'vtd0', driver: 'pcieport' },
    { bdf: FN0, parent: RP2, unit: 'vtd0', ats: true, driver: 'vfio-pci' },
    { bdf: FN1, parent: RP2, unit: 'vtd0', driver: 'vfio-pci' },
    { bdf: FN2, parent: RP2, unit: 'vtd0' },
    { bdf: RP3, bridge: true, acs: true, unit: 'vtd0', driver: 'pcieport' },
    { bdf: KFN0, parent: RP3, unit: 'vtd0', driver: 'nic' },
    { bdf: KFN1, parent: RP3, unit: 'vtd0', driver: 'vfio-pci' },
    { bdf: RP4, bridge: true, acs: true, unit: 'vtd0', driver: 'pcieport' },
    { bdf: RMRR, parent: RP4, unit: 'vtd0', require_direct: true, driver: 'vfio-pci' },
    { bdf: RP5, bridge: true, acs: true, unit: 'vtd0', driver: 'pcieport' },
    { bdf: SLOTDEV, parent: RP5, unit: 'vtd0', slot: 's1', driver: 'vfio-pci' },
    { bdf: RP6, bridge: true, acs: true, unit: 'vtd0', driver: 'pcieport' },
    { bdf: SA, parent: RP6, unit: 'vtd0', driver: 'vfio-pci' },
    { bdf: SB, parent: RP6, unit: 'vtd0', driver: 'vfio-pci' },
    { bdf: ROOT, unit: 'vtd0', driver: 'vfio-pci' },
    { bdf: NORESET, unit: 'vtd0', reset_methods: [], driver: 'vfio-pci' },
    { bdf: NOIOMMU, driver: 'vfio-pci' },
    { bdf: FREE, unit: 'vtd0' },
  ],
  drivers: [
    { name: 'pcieport', bus: 'pci' },
    { name: 'nic', bus: 'pci' },
    VFIO_PCI,
  ],
};
