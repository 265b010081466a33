import type { Topology } from '../../protocol/topology.ts';

/** The sysfs tests' machine (test/kernel/sysfs.test.ts, test/kernel/group-type-drain.test.ts). */
const RP = '0000:00:1c.0';
const NIC = '0000:01:00.0'; // bound to "nic" (module nicmod, loaded at boot), FLR
const FREE = '0000:00:02.0'; // no driver, FLR; driver_override "stub" (module stubmod, not loaded at boot)
const NORESET = '0000:00:03.0'; // no reset method

export const SYSFS_TOPOLOGY: Topology = {
  units: [{ name: 'vtd0', kind: 'vtd' }],
  pci: [
    { bdf: RP, bridge: true, acs: true, unit: 'vtd0', driver: 'pcieport' },
    { bdf: NIC, parent: RP, unit: 'vtd0', driver: 'nic', reset_methods: ['flr'] },
    { bdf: FREE, unit: 'vtd0', driver: 'stub', reset_methods: ['flr'] },
    { bdf: NORESET, unit: 'vtd0', reset_methods: [] },
  ],
  drivers: [
    { name: 'pcieport', bus: 'pci' },
    { name: 'nic', bus: 'pci', module: 'nicmod', probe: [{ do: 'dma_map', as: 'buf' }] },
    { name: 'stub', bus: 'pci', module: 'stubmod', driver_managed_dma: true },
  ],
  modules: [{ name: 'nicmod' }, { name: 'stubmod', boot: false }],
};
