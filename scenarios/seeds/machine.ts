import type { Topology } from '../../protocol/topology.ts';

/**
 * The machine the seed scenarios boot unless they need their own: a VT-d
 * unit with attach-deferred support; a root port with ACS and an ATS/PASID
 * endpoint bound to a kernel driver; a root port with a two-function device
 * whose functions share a group (no ACS between them); an RMRR
 * (require_direct) device; a kdump-style attach-deferred device.
 */
export const RP1 = '0000:00:1c.0';
export const NIC = '0000:01:00.0';
export const RP2 = '0000:00:1d.0';
export const FN0 = '0000:02:00.0';
export const FN1 = '0000:02:00.1';
export const RMRR = '0000:00:1e.0';
export const KDUMP = '0000:00:19.0';

export const MACHINE: Topology = {
  units: [{ name: 'vtd0', kind: 'vtd', max_pasids: 1 << 20, attach_deferred: true }],
  pci: [
    { bdf: RP1, bridge: true, acs: true, unit: 'vtd0', driver: 'pcieport' },
    { bdf: NIC, parent: RP1, unit: 'vtd0', ats: true, pasid_bits: 20, driver: 'nic' },
    { bdf: RP2, bridge: true, acs: true, unit: 'vtd0', driver: 'pcieport' },
    { bdf: FN0, parent: RP2, unit: 'vtd0', ats: true },
    { bdf: FN1, parent: RP2, unit: 'vtd0', ats: true },
    { bdf: RMRR, unit: 'vtd0', ats: true, require_direct: true, driver: 'nic' },
    { bdf: KDUMP, unit: 'vtd0', ats: true, attach_deferred: true, driver: 'nic' },
  ],
  drivers: [
    { name: 'pcieport', bus: 'pci' },
    { name: 'nic', bus: 'pci' },
    { name: 'vfio-pci', bus: 'pci', driver_managed_dma: true },
  ],
  mms: ['mm1'],
};

/**
 * A topology in the shape a scenario document writes it (scenarios/format):
 * devices by `id`, platform devices under `devices`. Built-in seeds written
 * as documents take their machine from here.
 */
export function documentTopology(t: Topology): Readonly<Record<string, unknown>> {
  return {
    units: t.units,
    pci: t.pci.map(({ bdf, ...rest }) => ({ id: bdf, ...rest })),
    ...(t.platform !== undefined ? { devices: t.platform.map(({ name, ...rest }) => ({ id: name, ...rest })) } : {}),
    drivers: t.drivers,
    ...(t.mms !== undefined ? { mms: t.mms } : {}),
    ...(t.passthrough !== undefined ? { passthrough: t.passthrough } : {}),
  };
}
