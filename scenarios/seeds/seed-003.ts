import { scenarioFromDocument } from '../format/document.ts';
import type { Scenario } from '../scenario.ts';
import { KDUMP, MACHINE, NIC, RMRR, documentTopology } from './machine.ts';

/**
 * Seed 003 (2025, iommu_dev_reset_prepare/done): block the IOMMU across a
 * PCI reset. Four questions from the thread, one scenario each, written as
 * scenario documents: `show` prints each, `run` takes it back.
 */

const TOPOLOGY = documentTopology(MACHINE);
const flr = (dev: string) => ({ op: 'pci.reset_function', dev });
const driverCall = (dev: string, actions: readonly unknown[]) => ({ op: 'driver.call', dev, actions });

/** (a) an FLR of an attach_deferred device concurrent with its first DMA map. */
export const SEED003A_DOCUMENT = {
  name: 'seed-003-deferred-attach',
  title: 'FLR of an attach_deferred device racing its first DMA map',
  topology: TOPOLOGY,
  variants: { 'deferred-attach': ['unlocked', 'locked'] },
  // the dev->iommu bit-field race is (d)'s question: here the bits are separate
  fixed: { 'dev-iommu-bits': 'separate-bools' },
  tasks: [{ name: 'map', ops: [driverCall(KDUMP, [{ do: 'dma_map', as: 'iova' }])] }, { name: 'flr', ops: [flr(KDUMP)] }],
  expect: [
    { when: { 'deferred-attach': 'unlocked' }, findings: ['data-race', 'unguarded-access'] },
    { when: { 'deferred-attach': 'locked' }, findings: [] },
  ],
};
export const seed003DeferredAttach: Scenario = scenarioFromDocument(SEED003A_DOCUMENT, 'scenarios/seeds/seed-003.ts');

/** (b) an FLR of a require_direct (RMR) device. */
export const SEED003B_DOCUMENT = {
  name: 'seed-003-rmr-reset',
  title: 'FLR of a require_direct (RMR) device: blocked, or a paging domain with the RMR',
  topology: TOPOLOGY,
  variants: { 'reset-blocking': ['bypass-require-direct', 'rmr-paging'] },
  tasks: [{ name: 'flr', ops: [flr(RMRR)] }],
  expect: [
    { when: { 'reset-blocking': 'bypass-require-direct' }, findings: ['invariant-violation'] },
    { when: { 'reset-blocking': 'rmr-paging' }, findings: [] },
  ],
};
export const seed003RmrReset: Scenario = scenarioFromDocument(SEED003B_DOCUMENT, 'scenarios/seeds/seed-003.ts');

/** (c) a cxl_bus reset method nests a bus reset (prepare twice). */
export const SEED003C_DOCUMENT = {
  name: 'seed-003-nested-reset',
  title: 'a reset method nested inside another: prepare twice',
  topology: documentTopology({ ...MACHINE, pci: MACHINE.pci.map((d) => (d.bdf === NIC ? { ...d, reset_methods: ['cxl_bus'] } : d)) }),
  variants: { 'reset-nesting': ['warn-ebusy', 'depth-counter'] },
  tasks: [{ name: 'reset', ops: [flr(NIC)] }],
  expect: [
    { when: { 'reset-nesting': 'warn-ebusy' }, findings: ['kernel-warn'] },
    { when: { 'reset-nesting': 'depth-counter' }, findings: [] },
  ],
};
export const seed003NestedReset: Scenario = scenarioFromDocument(SEED003C_DOCUMENT, 'scenarios/seeds/seed-003.ts');

/** (d) concurrent updates of the dev->iommu bit fields: the 32-bit IOVA fallback vs the end of the attach deferral. */
export const SEED003D_DOCUMENT = {
  name: 'seed-003-dev-iommu-bits',
  title: 'concurrent updates of the dev->iommu bit fields',
  topology: TOPOLOGY,
  variants: { 'dev-iommu-bits': ['shared-word', 'separate-bools'] },
  tasks: [
    { name: 'map', ops: [driverCall(KDUMP, [{ do: 'dma_map', as: 'a', page: 'p1' }, { do: 'dma_map', as: 'b', page: 'p2' }, { do: 'dma_map', as: 'c', page: 'p3' }])] },
    { name: 'flr', ops: [flr(KDUMP)] },
  ],
  expect: [
    { when: { 'dev-iommu-bits': 'shared-word' }, findings: ['data-race'] },
    { when: { 'dev-iommu-bits': 'separate-bools' }, findings: [] },
  ],
};
export const seed003DevIommuBits: Scenario = scenarioFromDocument(SEED003D_DOCUMENT, 'scenarios/seeds/seed-003.ts');
