import { isErrno } from '../../protocol/errno.ts';
import { actorId } from '../../protocol/ids.ts';
import type { ActionResult, DriverAction } from '../../protocol/driver-actions.ts';
import { DRIVER_CORE, IOMMU_CORE, PCI } from '../../protocol/kernel.ts';
import type { Call } from '../../protocol/kernel.ts';
import { unitActor } from '../../protocol/topology.ts';
import { svaPage } from '../../hardware/memory.ts';
import { UNIT } from './machine.ts';
import type { UnitUnderTest } from './machine.ts';

/**
 * A conformance case's task, written as a script: kernel client actions
 * (run as one module, so names like "d1" carry over), direct calls into
 * the IOMMU core (pci_dev_reset_iommu_prepare/done) or pci, and the unit's
 * test mailbox (fault_inject). Any step can carry a label; the judge reads
 * results by label.
 */

export const MODULE = 'conformance';
export const RID_IOVA = 0x1000;
export const PASID_IOVA = 0x5000;

type Where = { readonly call: number; readonly action: number | null };

export class Script {
  private readonly calls: Call[] = [];
  private batch: DriverAction[] | null = null;
  private readonly labels = new Map<string, Where>();

  /** A kernel client action (iommu_*, dma, ...). */
  act(a: DriverAction, label?: string): this {
    if (this.batch === null) {
      this.batch = [];
      this.calls.push({ to: DRIVER_CORE, op: 'module_call', body: { module: MODULE, actions: this.batch } });
    }
    if (label !== undefined) this.labels.set(label, { call: this.calls.length - 1, action: this.batch.length });
    this.batch.push(a);
    return this;
  }

  acts(list: readonly DriverAction[]): this {
    for (const a of list) this.act(a);
    return this;
  }

  /** A device's DMA: RID when `pasid` is absent. */
  dma(dev: string, iova: number, label: string, pasid?: number): this {
    return this.act({ do: 'dma', dev, iova, ...(pasid !== undefined ? { pasid } : {}) }, label);
  }

  core(op: string, body: unknown, label?: string): this {
    return this.call(IOMMU_CORE, op, body, label);
  }

  pci(op: string, body: unknown, label?: string): this {
    return this.call(PCI, op, body, label);
  }

  /** The unit's own mailbox (fault_inject). */
  unit(op: string, body: unknown, label?: string): this {
    return this.call(actorId(unitActor(UNIT)), op, body, label);
  }

  build(): readonly Call[] {
    return this.calls;
  }

  where(label: string): Where | undefined {
    return this.labels.get(label);
  }

  private call(to: string, op: string, body: unknown, label?: string): this {
    this.batch = null;
    if (label !== undefined) this.labels.set(label, { call: this.calls.length, action: null });
    this.calls.push({ to: actorId(to), op, body });
    return this;
  }
}

/** A step's return value: an errno name, an action's ret, or undefined if the step never ran. */
export function ret(s: Script, results: readonly unknown[] | undefined, label: string): unknown {
  const w = s.where(label);
  if (w === undefined || results === undefined) return undefined;
  const r = results[w.call];
  if (w.action === null) return isErrno(r) ? r.errno : r;
  return (r as readonly ActionResult[] | undefined)?.[w.action]?.ret;
}

/** What a DMA did, in a word: "→ page", "blocked", "fault", "bypass", or the error. */
export function dmaWord(r: unknown): string {
  if (typeof r === 'object' && r !== null && 'outcome' in r) {
    const o = r as { readonly outcome: string; readonly target: string | null };
    return o.outcome === 'translated' ? `→ ${o.target}` : o.outcome;
  }
  return r === undefined ? 'not run' : String(r);
}

export const reached = (r: unknown, page: string): boolean => dmaWord(r) === `→ ${page}`;
export const stopped = (r: unknown): boolean => ['blocked', 'fault'].includes(dmaWord(r));
export const retWord = (r: unknown): string => (r === 0 ? '0' : r === undefined ? 'not run' : typeof r === 'string' ? r : JSON.stringify(r));
export const ok = (r: unknown): boolean => r !== undefined && !(typeof r === 'string' && /^E[A-Z_]+$/.test(r)) && r !== null;

/**
 * How the cases attach a PASID: a paging domain through
 * iommu_attach_device_pasid() when the unit's driver has set_dev_pasid for
 * paging domains (VT-d, SMMUv3 7.0, the mock), else an SVA bond
 * (iommu_sva_bind_device; AMD, SMMUv3 5.10). An SVA bond's PASID is the
 * mm's global PASID: the core hands out 1 to the first mm, 2 to the next.
 */
export interface PasidUse {
  readonly attach: readonly DriverAction[];
  readonly detach: readonly DriverAction[];
  readonly pasid: number;
  /** The page DMA at PASID_IOVA on that PASID reaches. */
  readonly page: string;
  readonly how: 'paging' | 'sva';
}

export function pasidUse(u: UnitUnderTest, dev: string, name: string, page: string, opts: { readonly mm?: 'mm1' | 'mm2'; readonly pasid?: number; readonly preferSva?: boolean } = {}): PasidUse {
  const sva = u.profile.sva && (opts.preferSva === true || !u.profile.pagingPasid);
  if (sva) {
    const mm = opts.mm ?? 'mm1';
    return {
      attach: [{ do: 'iommu_sva_bind_device', dev, mm, as: name }],
      detach: [{ do: 'iommu_sva_unbind_device', handle: name }],
      pasid: mm === 'mm1' ? 1 : 2, page: svaPage(mm, PASID_IOVA), how: 'sva',
    };
  }
  const pasid = opts.pasid ?? 1;
  return {
    attach: [
      { do: 'iommu_paging_domain_alloc', dev, flags: ['pasid'], as: name },
      { do: 'iommu_map', dev, domain: name, iova: PASID_IOVA, page },
      { do: 'iommu_attach_device_pasid', dev, domain: name, pasid },
    ],
    detach: [{ do: 'iommu_detach_device_pasid', dev, domain: name, pasid }],
    pasid, page, how: 'paging',
  };
}

/** A PASID-capable paging domain for `dev` mapping RID_IOVA → page. */
export function pagingDomain(dev: string, name: string, page: string, iova = RID_IOVA): readonly DriverAction[] {
  return [
    { do: 'iommu_paging_domain_alloc', dev, flags: ['pasid'], as: name },
    { do: 'iommu_map', dev, domain: name, iova, page },
  ];
}
