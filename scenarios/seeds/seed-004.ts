import { scenarioFromDocument } from '../format/document.ts';
import type { Scenario } from '../scenario.ts';
import { MACHINE, RP1, documentTopology } from './machine.ts';

/**
 * Seed 004 (2023, "Switch __iommu_domain_alloc() to device ops"):
 * iommu_domain_alloc(bus) finds a device with bus_for_each_dev() and the
 * reviewer asks how the device stays alive after the walk. Written as
 * scenario documents: `show` prints each, `run` takes it back.
 */

const ALLOC = { op: 'module.call', module: 'legacy', actions: [{ do: 'iommu_domain_alloc', bus: 'pci', as: 'd' }] };
const VARIANTS = { 'domain-alloc': ['v4-escaping-dev', 'reviewer-locked', 'ops-only'] };

/** (a) a module allocates while the first device on the bus is hot-removed. */
export const SEED004A_DOCUMENT = {
  name: 'seed-004-domain-alloc-vs-hot-remove',
  title: 'iommu_domain_alloc(bus) while the device it finds is hot-removed',
  topology: documentTopology(MACHINE),
  variants: VARIANTS,
  tasks: [{ name: 'alloc', ops: [ALLOC] }, { name: 'remove', ops: [{ op: 'pci.hot_remove', dev: RP1 }] }],
  expect: [
    { when: { 'domain-alloc': 'v4-escaping-dev' }, findings: ['use-after-free'] },
    { when: { 'domain-alloc': 'reviewer-locked' }, findings: [] },
    { when: { 'domain-alloc': 'ops-only' }, findings: [] },
  ],
};
export const seed004HotRemove: Scenario = scenarioFromDocument(SEED004A_DOCUMENT, 'scenarios/seeds/seed-004.ts');

/** (b) a driver's probe, holding its device_lock, calls iommu_domain_alloc(bus) on its own bus. */
export const SEED004B_DOCUMENT = {
  name: 'seed-004-domain-alloc-in-probe',
  title: 'a driver calls iommu_domain_alloc(bus) from its own probe',
  topology: {
    units: [{ name: 'smmu0', kind: 'smmu-v3' }],
    devices: [{ id: 'gpu', unit: 'smmu0', driver: 'legacy-gpu' }],
    drivers: [{ name: 'legacy-gpu', bus: 'platform', probe: [{ do: 'iommu_domain_alloc', bus: 'platform', as: 'd' }] }],
  },
  variants: VARIANTS,
  tasks: [],
  expect: [
    { when: { 'domain-alloc': 'reviewer-locked' }, findings: ['deadlock', 'recursive-locking'] },
    { when: { 'domain-alloc': 'v4-escaping-dev' }, findings: [] },
    { when: { 'domain-alloc': 'ops-only' }, findings: [] },
  ],
};
export const seed004InProbe: Scenario = scenarioFromDocument(SEED004B_DOCUMENT, 'scenarios/seeds/seed-004.ts');

/** The "missing lockdep annotation": the reviewer's structure with and without group->mutex around the first-device helper. */
export const SEED004C_DOCUMENT = {
  name: 'seed-004-group-domain-alloc',
  title: 'the group\'s first-device helper reached with or without group->mutex',
  topology: documentTopology(MACHINE),
  variants: { 'group-domain-alloc': ['unlocked', 'locked'] },
  fixed: { 'domain-alloc': 'reviewer-locked' },
  tasks: [{ name: 'alloc', ops: [ALLOC] }],
  expect: [
    { when: { 'group-domain-alloc': 'unlocked' }, findings: ['assert-held', 'unguarded-access'] },
    { when: { 'group-domain-alloc': 'locked' }, findings: [] },
  ],
};
export const seed004GroupMutex: Scenario = scenarioFromDocument(SEED004C_DOCUMENT, 'scenarios/seeds/seed-004.ts');
