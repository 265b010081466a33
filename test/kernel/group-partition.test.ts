import { describe, expect, it } from 'vitest';
import { pciGroupPartition, pciTopology } from '../../actors/pci/topology.ts';
import type { Topology } from '../../protocol/topology.ts';

/** pci_device_group()'s partition (actors/pci/topology.ts), computed once per machine. */
describe('iommu group partition of PCI devices', () => {
  const machine: Topology = {
    units: [{ name: 'vtd0', kind: 'vtd' }],
    pci: [
      { bdf: '0000:00:1c.0', bridge: true, acs: true, unit: 'vtd0' },
      // a multi-function device without ACS: its functions share a group
      { bdf: '0000:01:00.0', parent: '0000:00:1c.0', unit: 'vtd0' },
      { bdf: '0000:01:00.1', parent: '0000:00:1c.0', unit: 'vtd0' },
      // one with ACS on each function: apart
      { bdf: '0000:00:02.0', acs: true, unit: 'vtd0' },
      { bdf: '0000:00:02.1', acs: true, unit: 'vtd0' },
      // a DMA alias joins the device it aliases
      { bdf: '0000:00:03.0', acs: true, unit: 'vtd0' },
      { bdf: '0000:00:04.0', acs: true, alias: '0000:00:03.0', unit: 'vtd0' },
    ],
    drivers: [],
  };

  it('functions without ACS share, functions with ACS do not, aliases join; members in topology order', () => {
    const p = pciGroupPartition(pciTopology(machine));
    expect(p.get('0000:01:00.1')).toEqual(['0000:01:00.0', '0000:01:00.1']);
    expect(p.get('0000:01:00.0')).toBe(p.get('0000:01:00.1'));
    expect(p.get('0000:00:02.0')).toEqual(['0000:00:02.0']);
    expect(p.get('0000:00:02.1')).toEqual(['0000:00:02.1']);
    expect(p.get('0000:00:04.0')).toEqual(['0000:00:03.0', '0000:00:04.0']);
  });
});
