import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';
import { vtdUnit } from '../../hardware/vtd.ts';
import type { Handler } from '../../runtime/actor.ts';
import { runExecution } from '../../runtime/execution.ts';
import type { ExecutionResult } from '../../runtime/execution.ts';
import type { Host } from '../../runtime/hosts/host.ts';
import { InlineHost } from '../../runtime/hosts/inline.ts';
import { WorkersHost } from '../../runtime/hosts/workers.ts';
import { RandomStrategy } from '../../runtime/strategies/random.ts';
import { actorId } from '../../protocol/ids.ts';
import { DRIVER_CORE, PCI } from '../../protocol/kernel.ts';
import { unitActor } from '../../protocol/topology.ts';
import type { Topology } from '../../protocol/topology.ts';
import { kernelCheckers } from '../../scenarios/kernel/checkers.ts';
import { kernelProgram } from '../../scenarios/kernel/program.ts';
import type { KernelProgramSpec } from '../../scenarios/kernel/program.ts';
import { call, driverCall, exploreKernel, moduleCall, unexpected } from '../helpers/kernel.ts';
import { FREE, NIC, TOPOLOGY } from '../kernel/topology.ts';

/**
 * The isolation checker on small kernel programs: DMA issued by drivers and
 * kernel code through the unit models, judged against ownership, resets,
 * freed domains and memory owners (hardware/memory.ts).
 */

interface Run {
  readonly result: ExecutionResult;
  readonly units: Readonly<Record<string, Record<string, unknown>>>;
}

async function run(spec: KernelProgramSpec, opts: { readonly host?: 'inline' | 'workers'; readonly seed?: number } = {}): Promise<Run> {
  const program = kernelProgram(spec);
  const host: Host = opts.host === 'workers' ? await WorkersHost.create(program) : await InlineHost.create(program);
  try {
    const seed = opts.seed ?? 1;
    const result = await runExecution(host, program, new RandomStrategy(seed), { seed, checkers: kernelCheckers() });
    const units: Record<string, Record<string, unknown>> = {};
    for (const u of spec.topology.units) units[u.name] = (await host.inspect(actorId(unitActor(u.name)))) as Record<string, unknown>;
    return { result, units };
  } finally {
    await host.close();
  }
}

const breaches = (r: Run): string[] => r.result.findings.filter((f) => f.kind === 'isolation-breach').map((f) => f.signature.split('|')[1]!);
const claim = (dev: string, owner = 'vfio'): ReturnType<typeof moduleCall> => moduleCall([{ do: 'iommu_group_get', dev, as: 'g' }, { do: 'iommu_group_claim_dma_owner', group: 'g', owner }]);

describe('isolation: ownership', () => {
  // a PCI driver whose probe maps a buffer and starts DMA on it
  const dmaer: Topology = { ...TOPOLOGY, drivers: [...TOPOLOGY.drivers, { name: 'dmaer', bus: 'pci', probe: [{ do: 'dma_map', as: 'buf' }, { do: 'dma', iova: 'buf' }] }] };
  const tasks = [{ id: 't', calls: [claim(FREE), call(DRIVER_CORE, 'bind_store', { dev: FREE, driver: 'dmaer' })] }];

  it('a kernel driver doing DMA in a user-owned group (pre-5.19 notifier, B20) is an isolation breach', async () => {
    const r = await run({ name: 'b20', topology: dmaer, variants: { 'dma-owner': 'notifier-bug-on' }, tasks });
    expect(breaches(r)).toEqual(['kernel-driver-in-user-group']);
    const f = r.result.findings.find((x) => x.kind === 'isolation-breach')!;
    expect(f.title).toBe('isolation-breach in unit:vtd0.dma');
    expect(f.report).toContain('Driver dmaer (no driver_managed_dma) drives DMA of 0000:00:1f.0 while its iommu group');
    expect(f.report).toContain('DMAR: [DMA Write NO_PASID] Request device [00:1f.0]');
    // the notifier's BUG_ON comes only after the probe, and the DMA, ran
    expect(r.result.findings.map((x) => x.kind)).toContain('kernel-bug');
  });

  it('the same with owner_cnt (5.19+): the bind is refused before the probe, and nothing is reported', async () => {
    const r = await run({ name: 'owner-cnt', topology: dmaer, tasks });
    expect((r.result.results['t'] as unknown[])[1]).toEqual({ errno: 'EBUSY' });
    expect(unexpected(r.result.findings)).toEqual([]);
  });

  it('a user-owned device may reach user pages, not kernel memory', async () => {
    const r = await run({
      name: 'user-kernel', topology: TOPOLOGY, tasks: [{ id: 't', calls: [claim(FREE), moduleCall([
        { do: 'iommu_paging_domain_alloc', dev: FREE, as: 'd' },
        { do: 'iommu_map', dev: FREE, domain: 'd', iova: 0x1000, page: 'user:qemu:0x7f0000' },
        { do: 'iommu_map', dev: FREE, domain: 'd', iova: 0x2000 },
        { do: 'iommu_attach_group', group: 'g', domain: 'd' },
        { do: 'dma', dev: FREE, iova: 0x1000 },
        { do: 'dma', dev: FREE, iova: 0x2000 },
      ])] }],
    });
    expect(breaches(r)).toEqual(['user-device-kernel-memory']);
    expect(r.result.findings.find((x) => x.kind === 'isolation-breach')?.report).toMatch(/reached "0000:00:1f\.0-buf": kernel memory[\s\S]*owned by userspace \(owner "vfio"\)/);
  });

  it('a kernel-owned device must not reach user memory, except through an SVA bond', async () => {
    const r = await run({
      name: 'kernel-user', topology: TOPOLOGY, tasks: [{ id: 't', calls: [driverCall(NIC, [
        { do: 'iommu_sva_bind_device', mm: 'mm1', as: 'h' }, { do: 'dma', iova: 0x4000, pasid: 1 },
        { do: 'dma_map', as: 'u', page: 'user:qemu:0x1000' }, { do: 'dma', iova: 'u' },
        { do: 'iommu_sva_unbind_device', handle: 'h' },
      ])] }],
    });
    expect(breaches(r)).toEqual(['kernel-device-user-memory']);
  });
});

describe('isolation: freed domains and stale translations', () => {
  it('DMA through a domain freed while attached', async () => {
    const r = await run({
      name: 'freed', topology: TOPOLOGY, tasks: [{ id: 't', calls: [moduleCall([
        { do: 'iommu_paging_domain_alloc', dev: FREE, as: 'd' }, { do: 'iommu_attach_device', dev: FREE, domain: 'd' },
        { do: 'iommu_map', dev: FREE, domain: 'd', iova: 0x1000 }, { do: 'iommu_domain_free', domain: 'd' }, { do: 'dma', dev: FREE, iova: 0x1000 },
      ])] }],
    });
    expect(breaches(r)).toEqual(['freed-domain']);
    expect(r.result.findings.map((f) => f.kind)).toContain('use-after-free');
  });

  it('DMA after iommu_unmap (unmap + sync) faults: no stale translation from the IOTLB or the device-TLB', async () => {
    const r = await run({
      name: 'unmap', topology: TOPOLOGY, tasks: [{ id: 't', calls: [driverCall(NIC, [
        { do: 'dma_map', as: 'b' }, { do: 'dma', iova: 'b' }, { do: 'dma', iova: 'b' }, { do: 'dma_unmap', iova: 'b' }, { do: 'dma', iova: 'b' },
      ])] }],
    });
    expect(unexpected(r.result.findings)).toEqual([]);
    const rets = (r.result.results['t'] as { ret: unknown }[][])[0]!.map((x) => x.ret);
    expect(rets.slice(1).map((x) => (typeof x === 'object' && x !== null ? (x as { outcome: string }).outcome : x))).toEqual(['translated', 'translated', 0, 'fault']);
  });
});

/** A VT-d that ignores the blocking domain: the device keeps translating through its old entry. */
type VtdHandler = (typeof vtdUnit.handlers)[string];
const base = vtdUnit.handlers['attach_dev'] as unknown as Handler<unknown, { readonly type: string }>;
const leakyAttach: Handler<unknown, { readonly type: string }> = (k, body) => (body.type === 'blocked' ? 0 : base(k, body));
export const leakyVtd: typeof vtdUnit = { ...vtdUnit, kind: 'leaky-vtd-unit', handlers: { ...vtdUnit.handlers, attach_dev: leakyAttach as unknown as VtdHandler } };

describe('isolation: resets', () => {
  const machine = (leaky: boolean): Topology => ({
    units: [{ name: 'vtd0', kind: 'vtd', ...(leaky ? { module: fileURLToPath(import.meta.url), export: 'leakyVtd' } : {}) }],
    pci: [{ bdf: NIC, unit: 'vtd0', ats: true, pasid_bits: 20, driver: 'nic' }],
    drivers: [{ name: 'nic', bus: 'pci' }],
  });
  const tasks = [
    { id: 'reset', calls: [call(PCI, 'pci_reset_function', { dev: NIC })] },
    { id: 'dma', calls: [driverCall(NIC, [{ do: 'dma_map', as: 'b' }, ...Array.from({ length: 6 }, () => [{ do: 'dma' as const, iova: 'b' }, { do: 'yield' as const }]).flat()])] },
  ];

  it('DMA racing an FLR is blocked inside the reset window', async () => {
    const x = await exploreKernel({ name: 'reset', topology: machine(false), tasks }, { schedules: 12 });
    expect([...x.kinds]).not.toContain('isolation-breach');
    expect([...x.outcomes]).toEqual(['completed']);
  });

  it('a unit (a plug-in module) that ignores the blocking domain lets DMA through during the reset: caught', async () => {
    const x = await exploreKernel({ name: 'leaky', topology: machine(true), tasks }, { schedules: 60, until: ['isolation-breach'] });
    const f = x.findings.find((y) => y.kind === 'isolation-breach');
    expect(f?.signature).toBe('isolation-breach|dma-while-resetting|unit:vtd0.dma|driver-core.driver_call');
    expect(f?.report).toContain('is being reset');
  });
});

describe('B18: no device-TLB invalidation to a disconnected device', () => {
  it('surprise removal: the release path skips the ATS invalidation of the disconnected device', async () => {
    const RP = '0000:00:1c.0';
    const EP = '0000:01:00.0';
    const r = await run({
      name: 'b18',
      topology: {
        units: [{ name: 'vtd0', kind: 'vtd' }],
        pci: [{ bdf: RP, bridge: true, acs: true, unit: 'vtd0', driver: 'pcieport' }, { bdf: EP, parent: RP, unit: 'vtd0', ats: true, slot: 'slot1', driver: 'nic' }],
        drivers: [{ name: 'pcieport', bus: 'pci' }, { name: 'nic', bus: 'pci' }],
      },
      tasks: [{ id: 't', calls: [driverCall(EP, [{ do: 'dma_map', as: 'b' }, { do: 'dma', iova: 'b' }]), call(PCI, 'pciehp_disable_slot', { slot: 'slot1', surprise: true })] }],
    });
    expect(r.units['vtd0']).toMatchObject({ stats: { devtlbSkipped: 1 } });
    expect(r.result.findings.filter((f) => f.kind === 'isolation-breach' || f.kind === 'stale-translation')).toEqual([]);
  });
});

describe('isolation in the workers host', () => {
  it('every unit on its own worker thread: the same DMA outcomes and findings as inline', async () => {
    const spec: KernelProgramSpec = {
      name: 'workers', topology: TOPOLOGY, tasks: [{ id: 't', calls: [claim(FREE), moduleCall([
        { do: 'iommu_paging_domain_alloc', dev: FREE, as: 'd' }, { do: 'iommu_map', dev: FREE, domain: 'd', iova: 0x2000 },
        { do: 'iommu_attach_group', group: 'g', domain: 'd' }, { do: 'dma', dev: FREE, iova: 0x2000 },
      ]), driverCall(NIC, [{ do: 'dma_map', as: 'b' }, { do: 'dma', iova: 'b' }])] }],
    };
    const inline = await run(spec);
    const workers = await run(spec, { host: 'workers' });
    expect(breaches(workers)).toEqual(['user-device-kernel-memory']);
    expect(workers.result.traceHash).toBe(inline.result.traceHash);
    expect(workers.result.findings.map((f) => f.signature)).toEqual(inline.result.findings.map((f) => f.signature));
    expect(workers.result.results).toEqual(inline.result.results);
    expect(workers.units['vtd0']).toEqual(inline.units['vtd0']);
  });
});
