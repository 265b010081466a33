import { objId } from '../../protocol/ids.ts';
import { oldKernelPage, physPage, svaPage } from '../memory.ts';
import { recordFault } from './faults.ts';
import type { FaultReason } from './faults.ts';
import { atcTag } from './invalidation.ts';
import { ptWalk } from './page-table.ts';
import type { UK } from './state.ts';
import { tlbFill, tlbLookup } from './tlb.ts';
import type { VendorModel } from './vendor.ts';

/**
 * One DMA request through a unit:
 *
 * 1. an ATS device with ATS enabled first looks in its own device-TLB (a
 *    translated request: the IOMMU does not walk anything);
 * 2. otherwise the device entry and PASID table resolve the request to a
 *    domain, or block it, bypass it, or fault;
 * 3. a translating domain is looked up in the IOTLB (tagged by domain),
 *    then walked (its I/O page table, or for SVA the mm's CPU page table);
 *    a walk fills the IOTLB and the device-TLB.
 *
 * Nothing here re-checks a cached entry against the page table: a cache
 * entry outlives its PTE until an invalidation completes. A walk is a use
 * of the domain's memory, so walking a domain the core freed is a
 * use-after-free to the lifetime checker.
 */

export interface Translation {
  readonly outcome: 'translated' | 'blocked' | 'fault' | 'bypass';
  readonly target: string | null;
  readonly domain: string | null;
  /** Where the translation came from (null when nothing was translated). */
  readonly via: 'devtlb' | 'iotlb' | 'walk' | null;
}

const NONE = { target: null, via: null } as const;

export function translate<V>(k: UK<V>, model: VendorModel<V>, dev: string, iova: number, pasid: number | null, write: boolean): Translation {
  const s = k.state;
  s.stats.translations++;
  const hw = s.devices.get(dev);
  const fault = (reason: FaultReason, domain: string | null, outcome: 'fault' | 'blocked' = 'fault'): Translation => {
    recordFault(k, { dev, iova, pasid, write, reason, domain });
    return { outcome, domain, ...NONE };
  };

  // 0. DMA remapping off (the unit's driver has not registered it yet, or unregistered it): untranslated
  if (!s.translating) return { outcome: 'bypass', target: physPage(iova), domain: null, via: null };

  // 1. the device's own ATC
  if (hw?.atsEnabled === true) {
    const atc = s.devtlb.get(dev);
    const e = atc === undefined ? undefined : tlbLookup(atc, atcTag(pasid), iova);
    if (e !== undefined && (!write || e.write)) {
      s.stats.devtlbHits++;
      return { outcome: 'translated', target: e.page, domain: e.domain, via: 'devtlb' };
    }
  }

  // 2. the device entry
  const r = model.resolve(s, dev, pasid);
  switch (r.kind) {
    case 'fault':
      return fault(r.reason, r.domain);
    case 'blocked':
      return fault('blocked', r.domain, 'blocked');
    case 'bypass':
      return { outcome: 'bypass', target: physPage(iova), domain: r.domain, via: null };
    case 'copied':
      return { outcome: 'translated', target: oldKernelPage(iova), domain: null, via: 'walk' };
    case 'translate':
      break;
  }
  const d = s.domains.get(r.domain);
  if (d === undefined) return fault('pte-not-present', r.domain);

  // 3. IOTLB, then the page-table walk
  const fill = (page: string, w: boolean): void => {
    if (hw?.atsEnabled === true) {
      const atc = s.devtlb.get(dev);
      if (atc !== undefined) tlbFill(atc, { tag: atcTag(pasid), iova, page, write: w, domain: d.id });
    }
  };
  const hit = tlbLookup(s.iotlb, d.id, iova);
  if (hit !== undefined && (!write || hit.write)) {
    s.stats.iotlbHits++;
    fill(hit.page, hit.write);
    return { outcome: 'translated', target: hit.page, domain: d.id, via: 'iotlb' };
  }
  if (!d.static) k.use(objId(d.id), 'IOMMU page-table walk');
  s.stats.walks++;
  const pte = d.mm !== null ? { page: svaPage(d.mm, iova), write: true } : ptWalk(d, iova);
  if (pte === undefined) return fault('pte-not-present', d.id);
  if (write && !pte.write) return fault('write-protect', d.id);
  tlbFill(s.iotlb, { tag: d.id, iova, page: pte.page, write: pte.write, domain: d.id });
  fill(pte.page, pte.write);
  return { outcome: 'translated', target: pte.page, domain: d.id, via: 'walk' };
}
