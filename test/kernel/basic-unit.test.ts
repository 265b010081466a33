import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';
import { lockManagerSpec } from '../../actors/lock-manager.ts';
import { LifetimeChecker } from '../../checkers/lifetime/lifetime-checker.ts';
import { defineActor } from '../../runtime/actor.ts';
import { runExecution } from '../../runtime/execution.ts';
import type { ExecutionResult } from '../../runtime/execution.ts';
import { InlineHost } from '../../runtime/hosts/inline.ts';
import type { Program } from '../../runtime/program.ts';
import { RandomStrategy } from '../../runtime/strategies/random.ts';
import { errno } from '../../protocol/errno.ts';
import { actorId, taskId } from '../../protocol/ids.ts';
import { blockedDomainOf, identityDomainOf } from '../../protocol/iommu-unit.ts';
import type { DmaOutcome, IommuUnitMailbox, UnitConfig } from '../../protocol/iommu-unit.ts';
import { unitActor } from '../../protocol/topology.ts';
import type { Topology, UnitSpec } from '../../protocol/topology.ts';
import { MODEL_DEFAULTS } from '../../protocol/variants.ts';

/** One call to the unit, as the IOMMU core would make it. */
type UnitCall = IommuUnitMailbox extends infer M ? (M extends IommuUnitMailbox ? { readonly op: M['op']; readonly body: M['body'] } : never) : never;

type DriverMailbox =
  /** Makes the calls one after another; returns their results. */
  | { readonly op: 'run'; readonly body: { readonly unit: string; readonly calls: readonly UnitCall[] } }
  /** A paging domain the core allocated (k.alloc) and freed (k.free) while still attached; then the device does DMA. */
  | { readonly op: 'free_while_attached'; readonly body: { readonly unit: string; readonly dev: string } };

/** A stand-in for iommu-core: drives one unit through its mailbox. */
export const unitDriver = defineActor<null, DriverMailbox>('unit-driver', {
  state: () => null,
  handlers: {
    async run(k, { unit, calls }) {
      const out: unknown[] = [];
      for (const c of calls) out.push(await k.call(actorId(unitActor(unit)), c.op, c.body));
      return out;
    },
    async free_while_attached(k, { unit, dev }) {
      const u = actorId(unitActor(unit));
      const domain = k.alloc('iommu_domain');
      await k.call(u, 'domain_alloc', { domain, type: 'paging', dev, pasid: false });
      await k.call(u, 'attach_dev', { domain, type: 'paging', dev, old: null });
      await k.call(u, 'map', { domain, iova: 4096, page: 'buf' });
      await k.call(u, 'domain_free', { domain });
      k.free(domain);
      return k.call<DmaOutcome>(u, 'dma', { dev, iova: 4096, pasid: null, write: true });
    },
  },
});

const SELF = fileURLToPath(import.meta.url);

const topologyOf = (unit: UnitSpec): Topology => ({ units: [unit], pci: [], drivers: [] });

function program(unit: UnitSpec, op: DriverMailbox['op'], body: unknown): Program {
  const config: UnitConfig = { topology: topologyOf(unit), variants: MODEL_DEFAULTS, unit: unit.name };
  return {
    name: `basic-unit-${op}`,
    actors: [
      { id: actorId('driver'), module: SELF, export: 'unitDriver' },
      { id: actorId(unitActor(unit.name)), module: 'hardware/basic-unit', export: 'basicUnit', config },
      lockManagerSpec(),
    ],
    lockManagers: [actorId('locks')],
    tasks: [{ id: taskId('t1'), to: actorId('driver'), op, body }],
  };
}

async function execute(p: Program, checkers = [new LifetimeChecker()]): Promise<ExecutionResult & { inspect: unknown }> {
  const host = await InlineHost.create(p);
  try {
    const r = await runExecution(host, p, new RandomStrategy(1), { seed: 1, record: true, checkers });
    const inspect = await host.inspect(actorId(unitActor((p.actors[1]?.config as UnitConfig).unit)));
    return { ...r, inspect };
  } finally {
    await host.close();
  }
}

async function run(unit: UnitSpec, calls: readonly UnitCall[]): Promise<{ results: unknown[]; r: ExecutionResult; inspect: unknown }> {
  const r = await execute(program(unit, 'run', { unit: unit.name, calls }));
  expect(r.outcome).toBe('completed');
  expect(r.findings).toEqual([]);
  return { results: r.results['t1'] as unknown[], r, inspect: r.inspect };
}

const VTD: UnitSpec = { name: 'vtd0', kind: 'vtd' };
const dma = (dev: string, iova: number, pasid: number | null = null): UnitCall => ({ op: 'dma', body: { dev, iova, pasid, write: false } });

describe('hardware/basic-unit', () => {
  it('probe_device: max_pasids is min(1 << pasid_bits, the unit width)', async () => {
    const { results } = await run({ ...VTD, max_pasids: 16 }, [
      { op: 'probe_device', body: { dev: 'a', pasid_bits: 0 } },
      { op: 'probe_device', body: { dev: 'b', pasid_bits: 3 } },
      { op: 'probe_device', body: { dev: 'c', pasid_bits: 8 } },
    ]);
    expect(results).toEqual([{ max_pasids: 0 }, { max_pasids: 8 }, { max_pasids: 16 }]);
    const wide = await run(VTD, [{ op: 'probe_device', body: { dev: 'a', pasid_bits: 20 } }]);
    expect(wide.results).toEqual([{ max_pasids: 1 << 20 }]);
  });

  it('domain_alloc: SVA needs ops->domain_alloc_sva (not on the mock, not with sva: false)', async () => {
    const sva = { op: 'domain_alloc', body: { domain: 'd1', type: 'sva', dev: 'a', pasid: true, mm: 'mm1' } } as const;
    const paging = { op: 'domain_alloc', body: { domain: 'd2', type: 'paging', dev: 'a', pasid: false } } as const;
    expect((await run({ name: 'm', kind: 'mock' }, [sva, paging])).results).toEqual([errno('EOPNOTSUPP'), 0]);
    expect((await run({ name: 's', kind: 'smmu-v3', sva: false }, [sva])).results).toEqual([errno('EOPNOTSUPP')]);
    expect((await run(VTD, [sva])).results).toEqual([0]);
  });

  it('RID translation: no entry faults, blocked blocks, identity bypasses, paging walks the page table', async () => {
    const { results, r } = await run(VTD, [
      { op: 'probe_device', body: { dev: 'a', pasid_bits: 0 } },
      dma('a', 4096),
      { op: 'attach_dev', body: { domain: blockedDomainOf('vtd0'), type: 'blocked', dev: 'a', old: null } },
      dma('a', 4096),
      { op: 'attach_dev', body: { domain: identityDomainOf('vtd0'), type: 'identity', dev: 'a', old: blockedDomainOf('vtd0') } },
      dma('a', 4096),
      { op: 'domain_alloc', body: { domain: 'dma1', type: 'dma', dev: 'a', pasid: false } },
      { op: 'attach_dev', body: { domain: 'dma1', type: 'dma', dev: 'a', old: identityDomainOf('vtd0') } },
      dma('a', 4096),
      { op: 'map', body: { domain: 'dma1', iova: 4096, page: 'a-buf' } },
      dma('a', 4096),
      // a domain this unit never allocated cannot be attached
      { op: 'attach_dev', body: { domain: 'elsewhere', type: 'paging', dev: 'a', old: 'dma1' } },
    ]);
    expect(results.filter((_, i) => [1, 3, 5, 8, 10].includes(i))).toEqual([
      { outcome: 'fault', target: null, domain: null },
      { outcome: 'blocked', target: null, domain: blockedDomainOf('vtd0') },
      { outcome: 'bypass', target: 'phys:4096', domain: identityDomainOf('vtd0') },
      { outcome: 'fault', target: null, domain: 'dma1' },
      { outcome: 'translated', target: 'a-buf', domain: 'dma1' },
    ]);
    expect(results[11]).toEqual(errno('EINVAL'));
    const events = (r.trace ?? []).flatMap((t) => t.events).filter((e) => e.ev === 'dma');
    expect(events.map((e) => (e.ev === 'dma' ? e.outcome : null))).toEqual(['fault', 'blocked', 'bypass', 'fault', 'translated']);
    expect(events[4]).toMatchObject({ dev: 'a', iova: 4096, pasid: null, target: 'a-buf' });
  });

  it('unmap leaves the IOTLB entry until iotlb_sync (a stale translation)', async () => {
    const { results, inspect } = await run(VTD, [
      { op: 'domain_alloc', body: { domain: 'p', type: 'paging', dev: 'a', pasid: false } },
      { op: 'attach_dev', body: { domain: 'p', type: 'paging', dev: 'a', old: null } },
      { op: 'map', body: { domain: 'p', iova: 8192, page: 'pg' } },
      dma('a', 8192),
      { op: 'unmap', body: { domain: 'p', iova: 8192 } },
      dma('a', 8192),
      { op: 'iotlb_sync', body: { domain: 'p' } },
      dma('a', 8192),
    ]);
    expect([results[3], results[5], results[7]].map((x) => (x as DmaOutcome).outcome)).toEqual(['translated', 'translated', 'fault']);
    expect(inspect).toMatchObject({ domains: { p: { type: 'paging', pt: {}, iotlb: {} } }, rid: { a: { domain: 'p', type: 'paging' } } });
  });

  it('PASID table: translation by PASID, AMD refuses to replace an SVA PASID, removal tears the entry down', async () => {
    const amd: UnitSpec = { name: 'amd0', kind: 'amd-vi' };
    const calls: UnitCall[] = [
      { op: 'probe_device', body: { dev: 'a', pasid_bits: 4 } },
      { op: 'domain_alloc', body: { domain: 's1', type: 'sva', dev: 'a', pasid: true, mm: 'mm1' } },
      { op: 'domain_alloc', body: { domain: 's2', type: 'sva', dev: 'a', pasid: true, mm: 'mm2' } },
      { op: 'set_dev_pasid', body: { domain: 's1', type: 'sva', dev: 'a', pasid: 1, old: null } },
      dma('a', 100, 1),
      { op: 'set_dev_pasid', body: { domain: 's2', type: 'sva', dev: 'a', pasid: 1, old: 's1' } },
      // beyond the device's 16 PASIDs
      { op: 'set_dev_pasid', body: { domain: 's2', type: 'sva', dev: 'a', pasid: 16, old: null } },
      { op: 'remove_dev_pasid', body: { dev: 'a', pasid: 1, domain: 's1' } },
      dma('a', 100, 1),
      // the RID has no entry of its own
      dma('a', 100),
    ];
    const onAmd = (await run(amd, calls)).results;
    expect(onAmd[3]).toBe(0);
    expect(onAmd[4]).toEqual({ outcome: 'translated', target: 'mm1:100', domain: 's1' });
    expect(onAmd[5]).toEqual(errno('EOPNOTSUPP'));
    expect(onAmd[6]).toEqual(errno('EINVAL'));
    expect((onAmd[8] as DmaOutcome).outcome).toBe('fault');
    expect((onAmd[9] as DmaOutcome).outcome).toBe('fault');
    // VT-d replaces in place
    const onVtd = (await run(VTD, calls)).results;
    expect(onVtd[5]).toBe(0);
  });

  it('a translation through a domain the core freed is a use-after-free', async () => {
    const r = await execute(program(VTD, 'free_while_attached', { unit: 'vtd0', dev: 'a' }));
    expect(r.outcome).toBe('completed');
    expect(r.results['t1']).toMatchObject({ outcome: 'fault' });
    const uaf = r.findings.find((f) => f.kind === 'use-after-free');
    expect(uaf?.report).toContain('IOMMU page-table walk');
  });

  it('release_device forgets the device', async () => {
    const { results, inspect } = await run(VTD, [
      { op: 'probe_device', body: { dev: 'a', pasid_bits: 2 } },
      { op: 'attach_dev', body: { domain: identityDomainOf('vtd0'), type: 'identity', dev: 'a', old: null } },
      { op: 'release_device', body: { dev: 'a' } },
      dma('a', 1),
    ]);
    expect((results[3] as DmaOutcome).outcome).toBe('fault');
    expect(inspect).toMatchObject({ rid: {}, pasids: {}, max_pasids: {} });
  });
});
