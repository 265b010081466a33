import { describe, expect, it } from 'vitest';
import { DRIVER_CORE, PCI } from '../../protocol/kernel.ts';
import type { Topology } from '../../protocol/topology.ts';
import { PctStrategy } from '../../runtime/strategies/pct.ts';
import { call, exploreKernel, moduleCall, runKernel } from '../helpers/kernel.ts';
import { KDUMP, NIC, RP1, RMRR, TOPOLOGY } from './topology.ts';

/**
 * The seed variants of the kernel model do what their discussions say:
 * each buggy design shows its finding under some schedule, the design that
 * landed (or the fix) shows none over the same schedules. Seeds are pinned.
 */

const SCHEDULES = 60;

describe('domain-alloc (seed 004): iommu_domain_alloc(bus) while a device on the bus is hot-removed', () => {
  const spec = (v: string) => ({
    name: `domain-alloc=${v}`, topology: TOPOLOGY, variants: { 'domain-alloc': v },
    tasks: [
      { id: 'alloc', calls: [moduleCall([{ do: 'iommu_domain_alloc', bus: 'pci', as: 'd' }])] },
      { id: 'remove', calls: [call(PCI, 'pci_stop_and_remove_bus_device_locked', { dev: RP1 })] },
    ],
  });
  it('v4-escaping-dev: a use-after-free of the device the walk handed out', async () => {
    // PCT: the alloc task must sit still while the whole removal runs inside the walk's callback
    const x = await exploreKernel(spec('v4-escaping-dev'), { schedules: 200, seed: 2, until: ['use-after-free'], strategy: new PctStrategy(2, 3) });
    expect([...x.kinds]).toContain('use-after-free');
    const f = x.findings.find((y) => y.kind === 'use-after-free')!;
    expect(f.report).toContain('__iommu_domain_alloc: dev_iommu_ops(dev)');
  });
  for (const v of ['ops-only', 'reviewer-locked']) {
    it(`${v}: clean over ${SCHEDULES} schedules`, async () => {
      const x = await exploreKernel(spec(v), { schedules: SCHEDULES });
      expect([...x.kinds]).toEqual([]);
    });
  }
});

describe('domain-alloc (seed 004): a driver calls iommu_domain_alloc(bus) from its own probe', () => {
  const topo: Topology = {
    units: [{ name: 'smmu0', kind: 'smmu-v3' }],
    pci: [],
    platform: [{ name: 'gpu', unit: 'smmu0', driver: 'legacy-gpu' }],
    drivers: [{ name: 'legacy-gpu', bus: 'platform', probe: [{ do: 'iommu_domain_alloc', bus: 'platform', as: 'd' }] }],
  };
  it('reviewer-locked: the walk takes the device_lock the probe holds (the author\'s objection)', async () => {
    const run = await runKernel({ name: 'probe-alloc', topology: topo, variants: { 'domain-alloc': 'reviewer-locked' }, tasks: [] });
    expect(run.result.outcome).toBe('deadlock');
    expect(run.result.findings.map((f) => f.kind)).toEqual(expect.arrayContaining(['deadlock', 'recursive-locking']));
  });
  it('ops-only: the probe binds', async () => {
    const run = await runKernel({ name: 'probe-alloc', topology: topo, variants: { 'domain-alloc': 'ops-only' }, tasks: [] });
    expect(run.result.outcome).toBe('completed');
    expect(run.result.findings).toEqual([]);
  });
});

describe('group-domain-alloc (seed 004\'s missing annotation)', () => {
  const spec = (v: string) => ({
    name: `group-domain-alloc=${v}`, topology: TOPOLOGY, variants: { 'domain-alloc': 'reviewer-locked', 'group-domain-alloc': v },
    tasks: [{ id: 'alloc', calls: [moduleCall([{ do: 'iommu_domain_alloc', bus: 'pci', as: 'd' }])] }],
  });
  it('unlocked: iommu_group_first_dev() asserts group->mutex', async () => {
    const run = await runKernel(spec('unlocked'));
    expect(run.result.findings.map((f) => f.kind)).toContain('assert-held');
  });
  it('locked: clean', async () => {
    const run = await runKernel(spec('locked'));
    expect(run.result.findings).toEqual([]);
  });
});

describe('deferred-attach (seed 003 a): the first DMA map of an attach_deferred device during its FLR', () => {
  const spec = (v: string) => ({
    name: `deferred-attach=${v}`, topology: TOPOLOGY, variants: { 'deferred-attach': v, 'dev-iommu-bits': 'separate-bools' },
    tasks: [
      { id: 'map', calls: [moduleCall([{ do: 'dma_map', dev: KDUMP, as: 'iova' }])] },
      { id: 'flr', calls: [call(PCI, 'pci_reset_function', { dev: KDUMP })] },
    ],
  });
  it('unlocked: the attach races the reset', async () => {
    const x = await exploreKernel(spec('unlocked'), { schedules: SCHEDULES, until: ['data-race'] });
    expect([...x.kinds].some((k) => k === 'data-race' || k === 'unguarded-access')).toBe(true);
  });
  it('locked (7.0): clean', async () => {
    const x = await exploreKernel(spec('locked'), { schedules: SCHEDULES });
    expect([...x.kinds]).toEqual([]);
  });
});

describe('dev-iommu-bits (seed 003 d): concurrent updates of the dev->iommu bit fields', () => {
  // the map task exhausts the 32-bit IOVA space (pci_32bit_workaround cleared, no lock) while the
  // reset's prepare ends the attach deferral (attach_deferred cleared under group->mutex)
  const spec = (v: string) => ({
    name: `dev-iommu-bits=${v}`, topology: TOPOLOGY, variants: { 'dev-iommu-bits': v },
    tasks: [
      { id: 'map', calls: [moduleCall([{ do: 'dma_map', dev: KDUMP, as: 'a', page: 'p1' }, { do: 'dma_map', dev: KDUMP, as: 'b', page: 'p2' }, { do: 'dma_map', dev: KDUMP, as: 'c', page: 'p3' }])] },
      { id: 'flr', calls: [call(PCI, 'pci_reset_function', { dev: KDUMP })] },
    ],
  });
  it('shared-word: a lost update on the shared word', async () => {
    const x = await exploreKernel(spec('shared-word'), { schedules: SCHEDULES, until: ['data-race'] });
    expect([...x.kinds]).toContain('data-race');
    expect(x.findings.find((f) => f.kind === 'data-race')!.report).toContain('bits');
  });
  it('separate-bools: no race on the flags', async () => {
    const x = await exploreKernel(spec('separate-bools'), { schedules: SCHEDULES });
    expect([...x.kinds].filter((k) => k === 'data-race')).toEqual([]);
  });
});

describe('reset-nesting (seed 003 c): a cxl_bus reset nests a bus reset', () => {
  const topo: Topology = { ...TOPOLOGY, pci: TOPOLOGY.pci.map((d) => (d.bdf === NIC ? { ...d, reset_methods: ['cxl_bus'] } : d)) };
  const spec = (v: string) => ({ name: `reset-nesting=${v}`, topology: topo, variants: { 'reset-nesting': v }, tasks: [{ id: 'reset', calls: [call(PCI, 'pci_reset_function', { dev: NIC })] }] });
  it('warn-ebusy (7.0.0): a WARN and the reset fails', async () => {
    const run = await runKernel(spec('warn-ebusy'));
    expect(run.result.findings.map((f) => f.kind)).toContain('kernel-warn');
    expect(run.result.results['reset']).toEqual([{ errno: 'EBUSY' }]);
  });
  it('depth-counter: the reset succeeds, clean', async () => {
    const run = await runKernel(spec('depth-counter'));
    expect(run.result.findings).toEqual([]);
    expect(run.result.results['reset']).toEqual([0]);
  });
});

describe('reset-blocking (seed 003 b): FLR of a require_direct device', () => {
  const spec = (v: string) => ({ name: `reset-blocking=${v}`, topology: TOPOLOGY, variants: { 'reset-blocking': v }, tasks: [{ id: 'reset', calls: [call(PCI, 'pci_reset_function', { dev: RMRR })] }] });
  it('bypass-require-direct (7.0.0): the RMR device is parked on the blocking domain', async () => {
    const run = await runKernel(spec('bypass-require-direct'));
    const f = run.result.findings.find((x) => x.kind === 'invariant-violation');
    expect(f?.signature).toContain('require-direct-blocked');
  });
  it('rmr-paging: clean', async () => {
    const run = await runKernel(spec('rmr-paging'));
    expect(run.result.findings).toEqual([]);
  });
});

describe('dma-owner (seed 000): a user claim and a sibling bind race', () => {
  const FN0 = '0000:02:00.0';
  const FN1 = '0000:02:00.1';
  const spec = (v: string) => ({
    name: `dma-owner=${v}`, topology: TOPOLOGY, variants: { 'dma-owner': v },
    tasks: [
      { id: 'vfio', calls: [moduleCall([{ do: 'iommu_group_get', dev: FN0, as: 'g' }, { do: 'iommu_group_claim_dma_owner', group: 'g', owner: 'vfio' }])] },
      { id: 'bind', calls: [call(DRIVER_CORE, 'bind_store', { dev: FN1, driver: 'nic' })] },
    ],
  });
  it('viable-scan-unlocked: the scan reads dev->driver without device_lock, and a kernel driver can end up in a user-owned group', async () => {
    const x = await exploreKernel(spec('viable-scan-unlocked'), { schedules: SCHEDULES, until: ['unguarded-access', 'invariant-violation'] });
    expect([...x.kinds]).toEqual(expect.arrayContaining(['unguarded-access', 'invariant-violation']));
  });
  it('notifier-bug-on: the bind is caught after the fact by a BUG_ON', async () => {
    const x = await exploreKernel(spec('notifier-bug-on'), { schedules: SCHEDULES, until: ['kernel-bug'], });
    expect([...x.kinds]).toContain('kernel-bug');
  });
  it('owner-cnt (5.19+): one side is refused, clean', async () => {
    const x = await exploreKernel(spec('owner-cnt'), { schedules: SCHEDULES });
    expect([...x.kinds]).toEqual([]);
  });
});
