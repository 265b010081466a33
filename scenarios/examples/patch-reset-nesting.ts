/**
 * Bug B8 as a patch (docs/kernel-facts.md §6 B8; "iommu: Fix nested
 * pci_dev_reset_iommu_prepare/done()", 0d5fd7a9323c, 7.0 stable): a CXL
 * device's bus reset method (cxl_reset_bus_function) prepares the IOMMU for
 * the reset and then calls pci_reset_bus_function(), which prepares again.
 * Before the fix pci_dev_reset_iommu_prepare() refused the re-entry with
 * WARN_ON(group->resetting_domain) and -EBUSY, so the reset failed (and the
 * WARN fired); the fix counts the depth per device and lets only the
 * outermost prepare/done act.
 *
 * The scenario runs the fixed kernel (`reset-nesting=depth-counter`), and the
 * patch puts back the pre-fix check at the top of the function the commit
 * changed, pci_dev_reset_iommu_prepare(); everything else stays upstream.
 *
 *   iommu-lab compare scenarios/examples/patch-reset-nesting.ts
 */
import { G, errno, groupOfDevice, underGroup } from 'iommu-lab/patch';
import type { Errno, IK, Patch } from 'iommu-lab/patch';

const NIC = '0000:01:00.0';
const RP = '0000:00:1c.0';

export default {
  name: 'example-patch-reset-nesting',
  title: 'B8: a CXL bus reset prepares the IOMMU twice; before the fix the nested prepare WARNs and fails',
  topology: {
    units: [{ name: 'vtd0', kind: 'vtd' }],
    pci: [
      { id: RP, bridge: true, acs: true, unit: 'vtd0', driver: 'pcieport' },
      // the CXL device: its only reset method is the bus reset through the CXL port
      { id: NIC, parent: RP, unit: 'vtd0', ats: true, reset_methods: ['cxl_bus'], driver: 'nic' },
    ],
    drivers: [{ name: 'pcieport', bus: 'pci' }, { name: 'nic', bus: 'pci' }],
  },
  variants: { 'reset-nesting': ['depth-counter'], 'reset-prepare': ['upstream', 'pre-fix'] },
  tasks: [{ name: 'reset', ops: [{ op: 'pci.reset_function', dev: NIC }] }],
  expect: [
    { when: { 'reset-prepare': 'upstream' }, findings: [] },
    { when: { 'reset-prepare': 'pre-fix' }, findings: ['kernel-warn'] },
  ],
};

export const patches: Patch[] = [
  {
    name: 'warn-on-reentry',
    actor: 'iommu-core',
    when: { 'reset-prepare': 'pre-fix' },
    functions: {
      /** pci_dev_reset_iommu_prepare() before 0d5fd7a9323c: a second prepare of a resetting group is a WARN and -EBUSY. */
      async pci_dev_reset_iommu_prepare(k: IK, body: { dev: string }, upstream: (k: IK, body: { dev: string }) => Promise<0 | Errno>): Promise<0 | Errno> {
        const g = groupOfDevice(k, body.dev);
        if (g !== null) {
          await k.lock(G(g.id));
          const resetting = k.read(g, 'resetting_domain', underGroup(g.id)) !== null;
          await k.unlock(G(g.id));
          if (resetting) {
            k.warn('pci_dev_reset_iommu_prepare: WARN_ON(group->resetting_domain)');
            return errno('EBUSY');
          }
        }
        return upstream(k, body);
      },
    },
  },
];
