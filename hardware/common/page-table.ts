import { objId } from '../../protocol/ids.ts';
import { ptField } from '../events.ts';
import type { HwDomain, Pte, UK } from './state.ts';

/**
 * A domain's I/O page table: IOVA → page with permissions. The model keeps
 * one level (the walk depth of the vendor formats does not change what a
 * translation reaches). Every change is emitted, so the checkers know what
 * the page table says at any point (hardware/events.ts).
 */

function emitPte<V>(k: UK<V>, d: HwDomain, iova: number, value: string | null, old: string | null): void {
  k.emit({ ev: 'access', obj: objId(d.id), field: ptField(iova), op: 'write', guard: null, lockless: true, value, old });
}

/** Installs a PTE (the core's iommu_map passes IOMMU_READ | IOMMU_WRITE). */
export function ptMap<V>(k: UK<V>, d: HwDomain, iova: number, page: string, write = true): void {
  const old = d.pt.get(iova);
  d.pt.set(iova, { page, write });
  emitPte(k, d, iova, page, old?.page ?? null);
}

/** Clears a PTE; returns the old one. The caches keep it until an invalidation completes. */
export function ptUnmap<V>(k: UK<V>, d: HwDomain, iova: number): Pte | undefined {
  const old = d.pt.get(iova);
  if (old === undefined) return undefined;
  d.pt.delete(iova);
  emitPte(k, d, iova, null, old.page);
  return old;
}

export function ptWalk(d: HwDomain, iova: number): Pte | undefined {
  return d.pt.get(iova);
}

/** Plain data for inspect. */
export function ptView(d: HwDomain): Record<string, string> {
  const out: Record<string, string> = {};
  for (const [iova, p] of d.pt) out[`0x${iova.toString(16)}`] = p.write ? p.page : `${p.page} (ro)`;
  return out;
}
