import type { TraceEvent } from '../../protocol/events.ts';
import { ATC_INV, IOTLB_INV, atcObj, ptField } from '../../hardware/events.ts';
import { classify, directRegionPage } from '../../hardware/memory.ts';
import type { MemoryClass } from '../../hardware/memory.ts';
import { asStr } from './shadow.ts';
import type { IsolationShadow, Write } from './shadow.ts';

/**
 * The isolation rules as pure judgements of one `dma` event against the
 * shadow (detection only; print.ts writes the reports). DESIGN.md §5: a
 * device owned by userspace must not reach kernel memory and vice versa, a
 * kernel driver must not run DMA in a user-owned group, DMA while resetting
 * must be blocked, and no DMA may translate through a freed domain or a
 * stale cache entry. Memory ownership comes from the page's name
 * (hardware/memory.ts).
 */

export type DmaEvent = Extract<TraceEvent, { readonly ev: 'dma' }>;

export type BreachRule =
  /** A device in a group userspace owns reached kernel memory (or bypassed to all memory). */
  | 'user-device-kernel-memory'
  /** A kernel-owned device reached a user process's memory (outside an SVA bond of that process). */
  | 'kernel-device-user-memory'
  /** A kernel driver (no driver_managed_dma) drove DMA in a group userspace owns (B20). */
  | 'kernel-driver-in-user-group'
  /** DMA translated while the device was being reset (§3.6: it must be blocked). */
  | 'dma-while-resetting'
  /** DMA translated from a device marked disconnected. */
  | 'dma-while-disconnected'
  /** DMA translated through a domain the core has freed. */
  | 'freed-domain'
  /**
   * DMA at a dma-direct address handed out before iommu_setup_dma_ops()
   * switched the device to iommu-dma: a physical address, not an IOVA of
   * the domain attached since (whatever it reaches, or faults on, it is not
   * the buffer the driver mapped through the IOMMU).
   */
  | 'direct-mapping-after-switch';

/** What the device and its group looked like at the DMA. */
export interface DmaContext {
  readonly e: DmaEvent;
  readonly group: string | null;
  readonly owner: string | null;
  readonly ownerWrite: Write | null;
  readonly driver: string | null;
  readonly driverManagedDma: boolean;
  readonly memory: MemoryClass | null;
  /** The translation reached memory (translated or bypass). */
  readonly reached: boolean;
}

export interface Breach {
  readonly rule: BreachRule;
  readonly ctx: DmaContext;
  /** The write (or free) that set up the state the rule reads. */
  readonly cause: Write | null;
}

export interface Stale {
  readonly ctx: DmaContext;
  readonly via: 'iotlb' | 'devtlb';
  readonly domain: string;
  /** What the page table says now (null: unmapped). */
  readonly pte: string | null;
  /** The PTE change that made the cached entry stale. */
  readonly change: Write | null;
  /** An invalidation that should have dropped the entry completed after the change. */
  readonly invalidatedAfter: Write | null;
}

export function contextOf(s: IsolationShadow, e: DmaEvent): DmaContext {
  const group = s.groupOf(e.dev);
  const ownerWrite = group === null ? null : s.lastWrite(group, 'owner');
  const driver = asStr(s.get(e.dev, 'driver'));
  return {
    e, group, ownerWrite,
    owner: group === null ? null : asStr(s.get(group, 'owner')),
    driver,
    driverManagedDma: driver !== null && s.get(`driver:${driver}`, 'driver_managed_dma') === true,
    memory: e.target === null ? null : classify(e.target),
    reached: e.outcome === 'translated' || e.outcome === 'bypass',
  };
}

export function breaches(s: IsolationShadow, c: DmaContext): Breach[] {
  const out: Breach[] = [];
  const { e } = c;
  const userOwned = c.group !== null && c.owner !== null;
  if (userOwned && c.driver !== null && !c.driverManagedDma) out.push({ rule: 'kernel-driver-in-user-group', ctx: c, cause: s.lastWrite(e.dev, 'driver') });
  if (e.pasid === null && s.get(e.dev, 'dma_iommu') === true && directAddress(s, e.dev, e.iova)) {
    out.push({ rule: 'direct-mapping-after-switch', ctx: c, cause: s.lastWrite(e.dev, 'dma_iommu') });
  }
  if (!c.reached || c.memory === null) return out;
  if (userOwned && (c.memory.kind === 'kernel' || c.memory.kind === 'any')) out.push({ rule: 'user-device-kernel-memory', ctx: c, cause: c.ownerWrite });
  // an SVA bond reaches its process's memory by design, whoever drives the device
  if (c.group !== null && c.owner === null && c.memory.kind === 'user' && !(c.memory.via === 'sva' && e.pasid !== null)) {
    out.push({ rule: 'kernel-device-user-memory', ctx: c, cause: c.ownerWrite });
  }
  // the firmware's direct-mapped region stays reachable during a reset when the model keeps it so (reset-blocking=rmr-paging)
  if (s.get(e.dev, 'in_reset') === true && e.target !== directRegionPage(e.dev)) out.push({ rule: 'dma-while-resetting', ctx: c, cause: s.lastWrite(e.dev, 'in_reset') });
  if (s.get(e.dev, 'disconnected') === true) out.push({ rule: 'dma-while-disconnected', ctx: c, cause: s.lastWrite(e.dev, 'disconnected') });
  const domain = e.domain ?? null;
  const freed = domain === null ? null : s.freeOf(domain);
  if (freed !== null && s.typeOf(domain!) === 'iommu_domain') out.push({ rule: 'freed-domain', ctx: c, cause: freed });
  return out;
}

/** Whether dma-direct handed `addr` out for `dev` and it was not unmapped (DeviceLink.dma_direct, actors/iommu-core/dma.ts). */
function directAddress(s: IsolationShadow, dev: string, addr: number): boolean {
  const m = s.get(dev, 'dma_direct');
  return typeof m === 'object' && m !== null && Object.hasOwn(m, String(addr));
}

/**
 * A translation from a cache (IOTLB or device-TLB) whose page-table entry
 * no longer says the same: the entry was unmapped (or remapped) and not
 * invalidated. SVA and identity translations have no I/O page table.
 */
export function staleHit(s: IsolationShadow, c: DmaContext): Stale | null {
  const { e } = c;
  const via = e.via;
  if ((via !== 'iotlb' && via !== 'devtlb') || e.outcome !== 'translated' || e.target === null) return null;
  const domain = e.domain ?? null;
  if (domain === null || (c.memory?.kind === 'user' && c.memory.via === 'sva')) return null;
  const field = ptField(e.iova);
  const pte = s.get(domain, field);
  if (pte === e.target) return null;
  const change = s.lastWrite(domain, field);
  const inv = via === 'iotlb' ? s.lastWrite(domain, IOTLB_INV) : s.lastWrite(atcObj(e.dev), ATC_INV);
  const invalidatedAfter = inv !== null && change !== null && inv.seq > change.seq ? inv : null;
  return { ctx: c, via, domain, pte: asStr(pte), change, invalidatedAfter };
}
