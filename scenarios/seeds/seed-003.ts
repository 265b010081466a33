import { PCI, DRIVER_CORE } from '../../protocol/kernel.ts';
import { kernelCheckers } from '../kernel/checkers.ts';
import { kernelProgram } from '../kernel/program.ts';
import type { Scenario } from '../scenario.ts';
import { KDUMP, MACHINE, NIC, RMRR } from './machine.ts';

/**
 * Seed 003 (2025, iommu_dev_reset_prepare/done): block the IOMMU across a
 * PCI reset. Four questions from the thread, one scenario each.
 */

const flr = (dev: string) => ({ to: PCI, op: 'pci_reset_function', body: { dev } });
const driverCall = (dev: string, actions: readonly unknown[]) => ({ to: DRIVER_CORE, op: 'driver_call', body: { dev, actions } });

/** (a) an FLR of an attach_deferred device concurrent with its first DMA map. */
export const seed003DeferredAttach: Scenario = {
  name: 'seed-003-deferred-attach',
  title: 'FLR of an attach_deferred device racing its first DMA map',
  variants: { 'deferred-attach': ['unlocked', 'locked'] },
  program: (v) => kernelProgram({
    name: 'seed-003a', topology: MACHINE, variants: { ...v, 'dev-iommu-bits': 'separate-bools' },
    tasks: [{ id: 'map', calls: [driverCall(KDUMP, [{ do: 'dma_map', as: 'iova' }])] }, { id: 'flr', calls: [flr(KDUMP)] }],
  }),
  expect: [
    { when: { 'deferred-attach': 'unlocked' }, findings: ['data-race', 'unguarded-access'] },
    { when: { 'deferred-attach': 'locked' }, findings: [] },
  ],
  checkers: () => kernelCheckers(),
};

/** (b) an FLR of a require_direct (RMR) device. */
export const seed003RmrReset: Scenario = {
  name: 'seed-003-rmr-reset',
  title: 'FLR of a require_direct (RMR) device: blocked, or a paging domain with the RMR',
  variants: { 'reset-blocking': ['bypass-require-direct', 'rmr-paging'] },
  program: (v) => kernelProgram({ name: 'seed-003b', topology: MACHINE, variants: v, tasks: [{ id: 'flr', calls: [flr(RMRR)] }] }),
  expect: [
    { when: { 'reset-blocking': 'bypass-require-direct' }, findings: ['invariant-violation'] },
    { when: { 'reset-blocking': 'rmr-paging' }, findings: [] },
  ],
  checkers: () => kernelCheckers(),
};

/** (c) a cxl_bus reset method nests a bus reset (prepare twice). */
export const seed003NestedReset: Scenario = {
  name: 'seed-003-nested-reset',
  title: 'a reset method nested inside another: prepare twice',
  variants: { 'reset-nesting': ['warn-ebusy', 'depth-counter'] },
  program: (v) => kernelProgram({
    name: 'seed-003c', variants: v,
    topology: { ...MACHINE, pci: MACHINE.pci.map((d) => (d.bdf === NIC ? { ...d, reset_methods: ['cxl_bus'] } : d)) },
    tasks: [{ id: 'reset', calls: [flr(NIC)] }],
  }),
  expect: [
    { when: { 'reset-nesting': 'warn-ebusy' }, findings: ['kernel-warn'] },
    { when: { 'reset-nesting': 'depth-counter' }, findings: [] },
  ],
  checkers: () => kernelCheckers(),
};

/** (d) concurrent updates of the dev->iommu bit fields: the 32-bit IOVA fallback vs the end of the attach deferral. */
export const seed003DevIommuBits: Scenario = {
  name: 'seed-003-dev-iommu-bits',
  title: 'concurrent updates of the dev->iommu bit fields',
  variants: { 'dev-iommu-bits': ['shared-word', 'separate-bools'] },
  program: (v) => kernelProgram({
    name: 'seed-003d', topology: MACHINE, variants: v,
    tasks: [
      { id: 'map', calls: [driverCall(KDUMP, [{ do: 'dma_map', as: 'a', page: 'p1' }, { do: 'dma_map', as: 'b', page: 'p2' }, { do: 'dma_map', as: 'c', page: 'p3' }])] },
      { id: 'flr', calls: [flr(KDUMP)] },
    ],
  }),
  expect: [
    { when: { 'dev-iommu-bits': 'shared-word' }, findings: ['data-race'] },
    { when: { 'dev-iommu-bits': 'separate-bools' }, findings: [] },
  ],
  checkers: () => kernelCheckers(),
};
