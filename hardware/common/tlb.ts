/**
 * A translation cache: the IOTLB of a unit (tagged by domain) or the
 * device-TLB (ATC) of an ATS device (tagged by PASID). A fill never checks
 * the page table again and nothing but an invalidation (or eviction) drops
 * an entry, so an unmap without its invalidation leaves a stale entry.
 * Capacity is bounded; the oldest entry is evicted first (a Map keeps
 * insertion order, so eviction is deterministic).
 */

export interface TlbEntry {
  /** Tag: the domain (IOTLB) or "rid"/PASID (device-TLB). */
  readonly tag: string;
  readonly iova: number;
  readonly page: string;
  readonly write: boolean;
  /** The domain the translation was made through. */
  readonly domain: string;
}

export interface Tlb {
  readonly capacity: number;
  readonly entries: Map<string, TlbEntry>;
}

export const newTlb = (capacity: number): Tlb => ({ capacity, entries: new Map() });

const key = (tag: string, iova: number): string => `${tag}|${iova}`;

export function tlbLookup(t: Tlb, tag: string, iova: number): TlbEntry | undefined {
  return t.entries.get(key(tag, iova));
}

export function tlbFill(t: Tlb, e: TlbEntry): void {
  const k = key(e.tag, e.iova);
  t.entries.delete(k);
  if (t.entries.size >= t.capacity) {
    const oldest = t.entries.keys().next();
    if (oldest.done !== true) t.entries.delete(oldest.value);
  }
  t.entries.set(k, e);
}

/** Drops the entries matching `pred`; returns how many went. */
export function tlbInvalidate(t: Tlb, pred: (e: TlbEntry) => boolean): number {
  let n = 0;
  for (const [k, e] of t.entries) {
    if (!pred(e)) continue;
    t.entries.delete(k);
    n++;
  }
  return n;
}

export function tlbHas(t: Tlb, pred: (e: TlbEntry) => boolean): boolean {
  for (const e of t.entries.values()) if (pred(e)) return true;
  return false;
}

/** Plain data for inspect: "tag|iova" → page. */
export function tlbView(t: Tlb): Record<string, string> {
  const out: Record<string, string> = {};
  for (const e of t.entries.values()) out[`${e.tag}|0x${e.iova.toString(16)}`] = e.page;
  return out;
}
