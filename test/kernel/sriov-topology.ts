import type { DriverSpec, Topology } from '../../protocol/topology.ts';
import { VFIO_PCI } from '../../scenarios/seeds/seed-000.ts';

/**
 * The machine of the SR-IOV, KVM and hot-add tests: a root port with ACS and
 * an SR-IOV PF below it (two VFs at 0000:01:10.0 and .1, each in a group of
 * its own), bound at boot to a PF driver with sriov_configure; its VFs go to
 * vfio-pci. A second port without ACS has a PF whose VFs share the port's
 * group; a PF on the root bus has no capability... and a device with no
 * SR-IOV capability at all.
 */
export const RP = '0000:00:1c.0';
export const PF = '0000:01:00.0';
export const VF0 = '0000:01:10.0';
export const VF1 = '0000:01:10.1';
export const RP_NOACS = '0000:00:1d.0';
export const PF2 = '0000:02:00.0'; // below a port without ACS: its VF shares the port's group
export const PF2_VF0 = '0000:02:10.0';
export const PLAIN = '0000:00:1f.0'; // no SR-IOV capability
export const NOCFG = '0000:00:1e.0'; // a PF whose driver has no sriov_configure

export const PF_DRIVER: DriverSpec = { name: 'pf-stub', bus: 'pci', sriov_configure: true };

export const SRIOV_TOPOLOGY: Topology = {
  units: [{ name: 'vtd0', kind: 'vtd', max_pasids: 1 << 20 }],
  pci: [
    { bdf: RP, bridge: true, acs: true, unit: 'vtd0', driver: 'pcieport' },
    { bdf: PF, parent: RP, unit: 'vtd0', driver: 'pf-stub', sriov: { total_vfs: 2, vf_driver: 'vfio-pci' } },
    { bdf: RP_NOACS, bridge: true, unit: 'vtd0', driver: 'pcieport' },
    { bdf: PF2, parent: RP_NOACS, unit: 'vtd0', driver: 'pf-stub', sriov: { total_vfs: 1 } },
    { bdf: NOCFG, unit: 'vtd0', driver: 'nic', sriov: { total_vfs: 1 } },
    { bdf: PLAIN, unit: 'vtd0', driver: 'nic' },
  ],
  drivers: [{ name: 'pcieport', bus: 'pci' }, { name: 'nic', bus: 'pci' }, PF_DRIVER, VFIO_PCI],
};
