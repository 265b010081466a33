import type { Topology } from '../../protocol/topology.ts';

/**
 * The machine the kernel-model tests boot: four IOMMU units of different
 * kinds; PCI root ports with ACS (so their endpoints get singleton groups), a
 * multi-function device without ACS (its two functions share a group), an
 * RMRR (require_direct) device, a kdump-style attach_deferred device and a
 * device behind no IOMMU; platform devices in a shared (Tegra-like) group.
 */
export const RP1 = '0000:00:1c.0';
export const NIC = '0000:01:00.0'; // singleton, ATS + PASID, bound to "nic" at boot
export const RP2 = '0000:00:1d.0';
export const FN0 = '0000:02:00.0'; // multi-function, shares a group with FN1; ATS + PASID
export const FN1 = '0000:02:00.1'; // no PASID
export const RP3 = '0000:00:1e.0';
export const RMRR = '0000:03:00.0'; // require_direct, ATS
export const FREE = '0000:00:1f.0'; // singleton, no driver, no ATS
export const NOIOMMU = '0000:00:1a.0'; // behind no IOMMU
export const AMD = '0000:00:1b.0'; // on the AMD unit, PASID width 1 bit
export const KDUMP = '0000:00:19.0'; // attach deferred (translation left on by the crashed kernel), ATS
export const GPU0 = 'gpu0';
export const GPU1 = 'gpu1';
export const MOCKDEV = 'mockdev';

export const TOPOLOGY: Topology = {
  units: [
    { name: 'vtd0', kind: 'vtd', max_pasids: 1 << 20, attach_deferred: true },
    { name: 'smmu0', kind: 'smmu-v3', max_pasids: 1 << 16 },
    { name: 'amd0', kind: 'amd-vi', max_pasids: 1 << 16 },
    { name: 'mock0', kind: 'mock', max_pasids: 1 << 8 },
  ],
  pci: [
    { bdf: RP1, bridge: true, acs: true, unit: 'vtd0', driver: 'pcieport' },
    { bdf: NIC, parent: RP1, unit: 'vtd0', ats: true, pasid_bits: 20, driver: 'nic' },
    { bdf: RP2, bridge: true, acs: true, unit: 'vtd0', driver: 'pcieport' },
    { bdf: FN0, parent: RP2, unit: 'vtd0', ats: true, pasid_bits: 20 },
    { bdf: FN1, parent: RP2, unit: 'vtd0' },
    { bdf: RP3, bridge: true, acs: true, unit: 'vtd0', driver: 'pcieport' },
    { bdf: RMRR, parent: RP3, unit: 'vtd0', ats: true, require_direct: true },
    { bdf: FREE, unit: 'vtd0' },
    { bdf: NOIOMMU },
    { bdf: AMD, unit: 'amd0', ats: true, pasid_bits: 1 },
    { bdf: KDUMP, unit: 'vtd0', ats: true, attach_deferred: true },
  ],
  platform: [
    { name: GPU0, unit: 'smmu0', group: 'gr', pasid_bits: 16 },
    { name: GPU1, unit: 'smmu0', group: 'gr' },
    { name: MOCKDEV, unit: 'mock0', pasid_bits: 8 },
  ],
  drivers: [
    { name: 'pcieport', bus: 'pci' },
    { name: 'nic', bus: 'pci' },
    { name: 'vfio-pci', bus: 'pci', driver_managed_dma: true },
    { name: 'pci-stub', bus: 'pci', driver_managed_dma: true },
    { name: 'plat', bus: 'platform' },
  ],
  mms: ['mm1', 'mm2'],
};
