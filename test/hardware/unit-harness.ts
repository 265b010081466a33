import { fileURLToPath } from 'node:url';
import { lockManagerSpec } from '../../actors/lock-manager.ts';
import { IsolationChecker } from '../../checkers/isolation/index.ts';
import { LifetimeChecker } from '../../checkers/lifetime/lifetime-checker.ts';
import type { Checker } from '../../checkers/checker.ts';
import { UNIT_MODULES } from '../../hardware/index.ts';
import { findProfile } from '../../hardware/profiles.ts';
import { defineActor } from '../../runtime/actor.ts';
import { runExecution } from '../../runtime/execution.ts';
import type { ExecutionResult } from '../../runtime/execution.ts';
import { InlineHost } from '../../runtime/hosts/inline.ts';
import type { Program } from '../../runtime/program.ts';
import { RandomStrategy } from '../../runtime/strategies/random.ts';
import { actorId, objId, taskId } from '../../protocol/ids.ts';
import type { TraceEvent } from '../../protocol/events.ts';
import type { IommuUnitMailbox, UnitConfig } from '../../protocol/iommu-unit.ts';
import { PCI } from '../../protocol/kernel.ts';
import type { KernelConfig } from '../../protocol/kernel.ts';
import { unitActor } from '../../protocol/topology.ts';
import type { PciDevSpec, Topology, UnitSpec } from '../../protocol/topology.ts';
import { MODEL_DEFAULTS } from '../../protocol/variants.ts';

/**
 * Drives one unit model through its mailbox, as the IOMMU core would,
 * without the rest of the kernel: a stand-in driver actor makes the calls
 * in order; the pci actor is there to answer pci_dev_is_disconnected. The
 * isolation and lifetime checkers watch.
 */

export type UnitCall =
  | (IommuUnitMailbox extends infer M ? (M extends IommuUnitMailbox ? { readonly op: M['op']; readonly body: M['body'] } : never) : never)
  | { readonly op: 'fault_inject'; readonly body: { readonly site: 'set_dev_pasid' | 'attach_dev' | 'domain_alloc'; readonly dev?: string; readonly nth?: number } };

type DriverMailbox = { readonly op: 'run'; readonly body: { readonly unit: string; readonly calls: readonly UnitCall[] } };

/** A stand-in for iommu-core: the calls one after another; domains are objects it allocates, as the core does. */
export const unitDriver = defineActor<null, DriverMailbox>('unit-driver', {
  state: () => null,
  handlers: {
    async run(k, { unit, calls }) {
      const out: unknown[] = [];
      for (const c of calls) {
        if (c.op === 'domain_alloc') k.alloc('iommu_domain', c.body.domain);
        out.push(await k.call(actorId(unitActor(unit)), c.op, c.body));
        if (c.op === 'domain_free') k.free(objId(c.body.domain));
      }
      return out;
    },
  },
});

const SELF = fileURLToPath(import.meta.url);

export const EP = '0000:00:02.0'; // ATS + PASID
export const EP2 = '0000:00:03.0'; // PASID, no ATS
export const PCI_DEVS: readonly PciDevSpec[] = [
  { bdf: EP, unit: 'u0', ats: true, pasid_bits: 20 },
  { bdf: EP2, unit: 'u0', pasid_bits: 20 },
];

/** The unit spec of a profile id ("vtd@7.0", "smmu-v3@7.0-s2", "mock"). */
export function unitOf(profile: string, extra: Partial<UnitSpec> = {}): UnitSpec {
  const p = findProfile(profile);
  if (p === null) throw new Error(`no profile ${profile}`);
  return { name: 'u0', kind: p.kind, ...(p.version !== null ? { version: p.version } : {}), ...extra };
}

export function unitProgram(unit: UnitSpec, calls: readonly UnitCall[], pci: readonly PciDevSpec[] = PCI_DEVS): Program {
  const topology: Topology = { units: [unit], pci: [...pci], drivers: [] };
  const kernel: KernelConfig = { topology, variants: MODEL_DEFAULTS };
  const config: UnitConfig = { ...kernel, unit: unit.name };
  return {
    name: `unit-${unit.kind}`,
    actors: [
      { id: actorId('driver'), module: SELF, export: 'unitDriver' },
      { id: actorId(unitActor(unit.name)), module: UNIT_MODULES[unit.kind].module, export: UNIT_MODULES[unit.kind].export, config },
      { id: PCI, module: 'actors/pci/index', export: 'pci', config: kernel },
      lockManagerSpec(),
    ],
    lockManagers: [actorId('locks')],
    tasks: [{ id: taskId('t1'), to: actorId('driver'), op: 'run', body: { unit: unit.name, calls } }],
  };
}

export interface UnitRun {
  readonly r: ExecutionResult;
  readonly results: readonly unknown[];
  readonly inspect: Record<string, unknown>;
  readonly dmaEvents: readonly Extract<TraceEvent, { readonly ev: 'dma' }>[];
}

export async function runUnit(unit: UnitSpec, calls: readonly UnitCall[], opts: { readonly checkers?: readonly Checker[]; readonly pci?: readonly PciDevSpec[] } = {}): Promise<UnitRun> {
  const checkers = opts.checkers ?? [new IsolationChecker(), new LifetimeChecker({ keep: ['iommu_domain'] })];
  const p = unitProgram(unit, calls, opts.pci ?? PCI_DEVS);
  const host = await InlineHost.create(p);
  try {
    const r = await runExecution(host, p, new RandomStrategy(1), { seed: 1, record: true, checkers });
    const inspect = (await host.inspect(actorId(unitActor(unit.name)))) as Record<string, unknown>;
    const dmaEvents = (r.trace ?? []).flatMap((t) => t.events).filter((e): e is Extract<TraceEvent, { readonly ev: 'dma' }> => e.ev === 'dma');
    return { r, results: (r.results['t1'] as readonly unknown[] | undefined) ?? [], inspect, dmaEvents };
  } finally {
    await host.close();
  }
}

// ---- call builders --------------------------------------------------------------------------

export const probe = (dev: string, pasid_bits = 20): UnitCall => ({ op: 'probe_device', body: { dev, pasid_bits } });
export const alloc = (domain: string, type: 'paging' | 'dma' | 'sva' = 'paging', opts: { readonly pasid?: boolean; readonly mm?: string } = {}): UnitCall => ({
  op: 'domain_alloc', body: { domain, type, dev: EP, pasid: opts.pasid ?? true, ...(opts.mm !== undefined ? { mm: opts.mm } : {}) },
});
export const attach = (dev: string, domain: string, type: 'paging' | 'dma' | 'blocked' | 'identity' = 'paging', old: string | null = null): UnitCall => ({ op: 'attach_dev', body: { domain, type, dev, old } });
export const setPasid = (dev: string, pasid: number, domain: string, type: 'paging' | 'sva' = 'paging', old: string | null = null): UnitCall => ({ op: 'set_dev_pasid', body: { domain, type, dev, pasid, old } });
export const removePasid = (dev: string, pasid: number, domain: string): UnitCall => ({ op: 'remove_dev_pasid', body: { dev, pasid, domain } });
export const map = (domain: string, iova: number, page: string): UnitCall => ({ op: 'map', body: { domain, iova, page } });
export const unmap = (domain: string, iova: number): UnitCall => ({ op: 'unmap', body: { domain, iova } });
export const sync = (domain: string): UnitCall => ({ op: 'iotlb_sync', body: { domain } });
export const dma = (dev: string, iova: number, pasid: number | null = null, write = false): UnitCall => ({ op: 'dma', body: { dev, iova, pasid, write } });

/** "translated:page", "blocked", "fault", "bypass" for a dma result. */
export function word(x: unknown): string {
  const o = x as { readonly outcome: string; readonly target: string | null };
  return o.outcome === 'translated' ? `translated:${o.target}` : o.outcome;
}
