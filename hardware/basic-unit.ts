import { defineActor } from '../runtime/actor.ts';
import type { Kernel } from '../runtime/actor.ts';
import { errno } from '../protocol/errno.ts';
import type { Errno } from '../protocol/errno.ts';
import { objId } from '../protocol/ids.ts';
import type { DomainType } from '../protocol/iommu-core.ts';
import { blockedDomainOf, identityDomainOf } from '../protocol/iommu-unit.ts';
import type { DmaOutcome, IommuUnitMailbox, UnitConfig } from '../protocol/iommu-unit.ts';
import type { UnitSpec } from '../protocol/topology.ts';

/**
 * A minimal, generic IOMMU unit: the hardware tables every real unit has, and
 * none of the vendor differences beyond the two the core can observe today
 * (SVA support, AMD's refusal to replace an SVA PASID). It stands in until the
 * vendor models land.
 *
 * State is the hardware's own (no kernel locks protect it; the core
 * serialises writers with group->mutex), so it is plain data:
 * - per device a RID entry (context entry / DTE / STE) naming a domain, and a
 *   PASID table (pasid → domain);
 * - per domain a page table (iova → page) and an IOTLB (iova → page cached by
 *   translations, dropped only by iotlb_sync, so an unmap without a sync
 *   leaves a stale translation);
 * - the static blocked and identity domains exist from the start.
 */

interface Entry {
  readonly domain: string;
  readonly type: DomainType;
}

interface HwDomain {
  readonly type: DomainType;
  readonly static: boolean;
  /** SVA: the mm whose CPU page table the unit walks. */
  readonly mm: string | null;
  readonly pt: Map<number, string>;
  readonly iotlb: Map<number, string>;
}

export interface UnitState {
  readonly spec: UnitSpec;
  readonly rid: Map<string, Entry>;
  readonly pasids: Map<string, Map<number, Entry>>;
  readonly domains: Map<string, HwDomain>;
  readonly maxPasids: Map<string, number>;
  /** DMA remapping on (set_translation). */
  translating: boolean;
}

type K = Kernel<UnitState>;
type Ret = 0 | Errno;

/** The PASID width a unit without `max_pasids` offers (20 bits, the PCIe maximum). */
const DEFAULT_MAX_PASIDS = 1 << 20;

const newDomain = (type: DomainType, isStatic: boolean, mm: string | null): HwDomain => ({ type, static: isStatic, mm, pt: new Map(), iotlb: new Map() });

function init(config: UnitConfig): UnitState {
  const spec = config.topology.units.find((u) => u.name === config.unit);
  if (spec === undefined) throw new Error(`basic-unit: no unit "${config.unit}" in the topology`);
  const domains = new Map<string, HwDomain>([
    [blockedDomainOf(spec.name), newDomain('blocked', true, null)],
    [identityDomainOf(spec.name), newDomain('identity', true, null)],
  ]);
  return { spec, rid: new Map(), pasids: new Map(), domains, maxPasids: new Map(), translating: spec.present_at_boot !== false };
}

/** ops->domain_alloc_sva exists (sva defaults to true, except on the mock: selftest.c has no SVA). */
const supportsSva = (u: UnitSpec): boolean => u.sva ?? u.kind !== 'mock';

/** domain_iommu_ops_compatible(): a domain this unit did not allocate cannot be attached (-EINVAL). */
function known(k: K, domain: string): boolean {
  return k.state.domains.has(domain);
}

/**
 * One DMA: the PASID table when the request carries a PASID, else the RID
 * entry. No entry: the unit faults; a blocked entry blocks; identity bypasses;
 * a paging domain is looked up in the IOTLB first, then the page table (a hit
 * fills the IOTLB). Walking a domain is a use of it, so a translation through
 * a domain the core already freed is a use-after-free to the checkers.
 */
function translate(k: K, dev: string, iova: number, pasid: number | null): DmaOutcome {
  const e = pasid === null ? k.state.rid.get(dev) : k.state.pasids.get(dev)?.get(pasid);
  if (e === undefined) return { outcome: 'fault', target: null, domain: null };
  const d = k.state.domains.get(e.domain);
  if (d === undefined || !d.static) k.use(objId(e.domain), 'IOMMU page-table walk');
  switch (e.type) {
    case 'blocked':
      return { outcome: 'blocked', target: null, domain: e.domain };
    case 'identity':
      return { outcome: 'bypass', target: `phys:${iova}`, domain: e.domain };
    case 'dma':
    case 'dma-fq':
    case 'paging':
    case 'sva': {
      if (d === undefined) return { outcome: 'fault', target: null, domain: e.domain };
      const cached = d.iotlb.get(iova);
      if (cached !== undefined) return { outcome: 'translated', target: cached, domain: e.domain };
      // an SVA domain walks the process page table: every address of the mm is mapped
      const page = d.pt.get(iova) ?? (d.mm !== null ? `${d.mm}:${iova}` : undefined);
      if (page === undefined) return { outcome: 'fault', target: null, domain: e.domain };
      d.iotlb.set(iova, page);
      return { outcome: 'translated', target: page, domain: e.domain };
    }
  }
}

export const basicUnit = defineActor<UnitState, IommuUnitMailbox>('basic-unit', {
  state: (config) => init(config as UnitConfig),
  handlers: {
    // ops->probe_device: dev->iommu->max_pasids = min(pci_max_pasids(dev), iommu->max_pasids)
    probe_device(k, { dev, pasid_bits }) {
      const devMax = pasid_bits > 0 ? 2 ** pasid_bits : 0;
      const max = Math.min(devMax, k.state.spec.max_pasids ?? DEFAULT_MAX_PASIDS);
      k.state.maxPasids.set(dev, max);
      return { max_pasids: max };
    },

    // ops->release_device: the core attached the release domain already; the tables forget the device
    release_device(k, { dev }): Ret {
      k.state.rid.delete(dev);
      k.state.pasids.delete(dev);
      k.state.maxPasids.delete(dev);
      return 0;
    },

    domain_alloc(k, { domain, type, mm }): Ret {
      if (type === 'sva' && !supportsSva(k.state.spec)) return errno('EOPNOTSUPP');
      if (k.state.domains.has(domain)) {
        k.warn(`${k.state.spec.name}: domain ${domain} allocated twice`);
        return errno('EEXIST');
      }
      k.state.domains.set(domain, newDomain(type, false, type === 'sva' ? (mm ?? null) : null));
      return 0;
    },

    // The static domains are never freed; entries still naming a freed domain stay (the hardware does not know)
    domain_free(k, { domain }): Ret {
      if (k.state.domains.get(domain)?.static === true) return 0;
      k.state.domains.delete(domain);
      return 0;
    },

    attach_dev(k, { domain, type, dev }): Ret {
      if (!known(k, domain)) return errno('EINVAL');
      k.state.rid.set(dev, { domain, type });
      return 0;
    },

    set_dev_pasid(k, { domain, type, dev, pasid, old }): Ret {
      if (!known(k, domain)) return errno('EINVAL');
      // drivers/iommu/amd/pasid.c iommu_sva_set_dev_pasid(): "if (old) return -EOPNOTSUPP" (no replace)
      if (k.state.spec.kind === 'amd-vi' && type === 'sva' && old !== null) return errno('EOPNOTSUPP');
      if (pasid >= (k.state.maxPasids.get(dev) ?? 0)) return errno('EINVAL');
      let table = k.state.pasids.get(dev);
      if (table === undefined) k.state.pasids.set(dev, (table = new Map()));
      table.set(pasid, { domain, type });
      return 0;
    },

    // blocked_domain->ops->set_dev_pasid(): the PASID entry is torn down (DMA on it faults)
    remove_dev_pasid(k, { dev, pasid }): Ret {
      k.state.pasids.get(dev)?.delete(pasid);
      return 0;
    },

    map(k, { domain, iova, page }): Ret {
      const d = k.state.domains.get(domain);
      if (d === undefined || d.static) return errno('EINVAL');
      d.pt.set(iova, page);
      return 0;
    },

    // The page-table entry goes; the IOTLB keeps it until iotlb_sync
    unmap(k, { domain, iova }): Ret {
      const d = k.state.domains.get(domain);
      if (d === undefined || d.static) return errno('EINVAL');
      d.pt.delete(iova);
      return 0;
    },

    iotlb_sync(k, { domain }): Ret {
      k.state.domains.get(domain)?.iotlb.clear();
      return 0;
    },

    set_translation(k, { enabled }): Ret {
      k.state.translating = enabled;
      return 0;
    },

    dma(k, { dev, iova, pasid }): DmaOutcome {
      const r: DmaOutcome = k.state.translating ? translate(k, dev, iova, pasid) : { outcome: 'bypass', target: `phys:${iova}`, domain: null };
      k.emit({ ev: 'dma', dev, iova, pasid, outcome: r.outcome, target: r.target });
      return r;
    },
  },
  inspect: (s) => ({
    unit: s.spec.name,
    kind: s.spec.kind,
    rid: Object.fromEntries([...s.rid].map(([dev, e]) => [dev, { ...e }])),
    pasids: Object.fromEntries([...s.pasids].map(([dev, t]) => [dev, Object.fromEntries([...t].map(([p, e]) => [String(p), { ...e }]))])),
    domains: Object.fromEntries(
      [...s.domains].map(([id, d]) => [id, { type: d.type, static: d.static, mm: d.mm, pt: Object.fromEntries([...d.pt].map(([i, p]) => [String(i), p])), iotlb: Object.fromEntries([...d.iotlb].map(([i, p]) => [String(i), p])) }]),
    ),
    max_pasids: Object.fromEntries(s.maxPasids),
  }),
});

export default basicUnit;
