import type { Topology } from '../../protocol/topology.ts';
import { DRIVER_CORE, PCI } from '../../protocol/kernel.ts';
import { kernelCheckers } from '../kernel/checkers.ts';
import { kernelProgram } from '../kernel/program.ts';
import type { Scenario } from '../scenario.ts';
import { MACHINE, RP1 } from './machine.ts';

/**
 * Seed 004 (2023, "Switch __iommu_domain_alloc() to device ops"):
 * iommu_domain_alloc(bus) finds a device with bus_for_each_dev() and the
 * reviewer asks how the device stays alive after the walk.
 */

const alloc = { to: DRIVER_CORE, op: 'module_call', body: { module: 'legacy', actions: [{ do: 'iommu_domain_alloc', bus: 'pci', as: 'd' }] } };

/** (a) a module allocates while the first device on the bus is hot-removed. */
export const seed004HotRemove: Scenario = {
  name: 'seed-004-domain-alloc-vs-hot-remove',
  title: 'iommu_domain_alloc(bus) while the device it finds is hot-removed',
  variants: { 'domain-alloc': ['v4-escaping-dev', 'reviewer-locked', 'ops-only'] },
  program: (v) => kernelProgram({
    name: 'seed-004a', topology: MACHINE, variants: v,
    tasks: [{ id: 'alloc', calls: [alloc] }, { id: 'remove', calls: [{ to: PCI, op: 'pci_stop_and_remove_bus_device_locked', body: { dev: RP1 } }] }],
  }),
  expect: [
    { when: { 'domain-alloc': 'v4-escaping-dev' }, findings: ['use-after-free'] },
    { when: { 'domain-alloc': 'reviewer-locked' }, findings: [] },
    { when: { 'domain-alloc': 'ops-only' }, findings: [] },
  ],
  checkers: () => kernelCheckers(),
};

/** (b) a driver's probe, holding its device_lock, calls iommu_domain_alloc(bus) on its own bus. */
const PROBE_MACHINE: Topology = {
  units: [{ name: 'smmu0', kind: 'smmu-v3' }],
  pci: [],
  platform: [{ name: 'gpu', unit: 'smmu0', driver: 'legacy-gpu' }],
  drivers: [{ name: 'legacy-gpu', bus: 'platform', probe: [{ do: 'iommu_domain_alloc', bus: 'platform', as: 'd' }] }],
};

export const seed004InProbe: Scenario = {
  name: 'seed-004-domain-alloc-in-probe',
  title: 'a driver calls iommu_domain_alloc(bus) from its own probe',
  variants: { 'domain-alloc': ['v4-escaping-dev', 'reviewer-locked', 'ops-only'] },
  program: (v) => kernelProgram({ name: 'seed-004b', topology: PROBE_MACHINE, variants: v, tasks: [] }),
  expect: [
    { when: { 'domain-alloc': 'reviewer-locked' }, findings: ['deadlock', 'recursive-locking'] },
    { when: { 'domain-alloc': 'v4-escaping-dev' }, findings: [] },
    { when: { 'domain-alloc': 'ops-only' }, findings: [] },
  ],
  checkers: () => kernelCheckers(),
};

/** The "missing lockdep annotation": the reviewer's structure with and without group->mutex around the first-device helper. */
export const seed004GroupMutex: Scenario = {
  name: 'seed-004-group-domain-alloc',
  title: 'the group\'s first-device helper reached with or without group->mutex',
  variants: { 'group-domain-alloc': ['unlocked', 'locked'] },
  program: (v) => kernelProgram({ name: 'seed-004c', topology: MACHINE, variants: { ...v, 'domain-alloc': 'reviewer-locked' }, tasks: [{ id: 'alloc', calls: [alloc] }] }),
  expect: [
    { when: { 'group-domain-alloc': 'unlocked' }, findings: ['assert-held', 'unguarded-access'] },
    { when: { 'group-domain-alloc': 'locked' }, findings: [] },
  ],
  checkers: () => kernelCheckers(),
};
