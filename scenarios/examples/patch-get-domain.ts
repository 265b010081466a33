/**
 * A scenario module that models a patch of its own: the upstream
 * iommu_get_domain_for_dev() reads group->domain locklessly on purpose (its
 * callers may not hold group->mutex, and the read is annotated as lockless);
 * the "plain-read" patch makes it an ordinary read of a field group->mutex
 * guards, without taking the mutex, the way a hurried refactor might. The variant axis `get-domain` picks upstream or patched
 * code, and `iommu-lab compare` runs both side by side.
 *
 *   iommu-lab compare scenarios/examples/patch-get-domain.ts
 */
import { iommuCore } from 'iommu-lab/patch';
import type { Patch } from 'iommu-lab/patch';

const NIC = '0000:01:00.0';

export default {
  name: 'example-patch-get-domain',
  title: 'a patched iommu_get_domain_for_dev() read while the device is being reset',
  topology: {
    units: [{ name: 'vtd0', kind: 'vtd' }],
    pci: [
      { id: '0000:00:1c.0', bridge: true, acs: true, unit: 'vtd0', driver: 'pcieport' },
      { id: NIC, parent: '0000:00:1c.0', unit: 'vtd0', driver: 'nic' },
    ],
    drivers: [{ name: 'pcieport', bus: 'pci' }, { name: 'nic', bus: 'pci' }],
  },
  variants: { 'get-domain': ['upstream', 'plain-read'] },
  tasks: [
    { name: 'reader', ops: [{ op: 'driver.call', dev: NIC, actions: [{ do: 'iommu_get_domain_for_dev', as: 'd' }] }] },
    { name: 'flr', ops: [{ op: 'pci.reset_function', dev: NIC }] },
  ],
  expect: [
    { when: { 'get-domain': 'plain-read' }, findings: ['unguarded-access'] },
    { when: { 'get-domain': 'upstream' }, findings: [] },
  ],
};

/** Handlers written against the kernel context `k`, laid over iommu-core's own when `when` matches. */
export const patches: Patch[] = [
  {
    name: 'plain-read',
    actor: 'iommu-core',
    when: { 'get-domain': 'plain-read' },
    handlers: {
      async iommu_get_domain_for_dev(k: iommuCore.IK, { dev }: { dev: string }): Promise<string | null> {
        const g = iommuCore.groupOfDevice(k, dev);
        if (g === null) return null;
        // group->domain is guarded by group->mutex, which this version reads it without
        return k.read(g, 'domain', iommuCore.underGroup(g.id));
      },
    },
  },
];
