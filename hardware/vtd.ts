import { errno } from '../protocol/errno.ts';
import { blockedDomainOf } from '../protocol/iommu-unit.ts';
import { flushDeviceEntry, queueIotlb } from './common/invalidation.ts';
import type { HwDomain, UK, UnitState } from './common/state.ts';
import { defineUnit } from './common/unit.ts';
import { setAts } from './common/vendor.ts';
import type { DomainUser, Resolution, VendorModel } from './common/vendor.ts';
import { kfunc } from '../runtime/kfunc.ts';
import { pciSpec } from '../protocol/topology.ts';

/**
 * Intel VT-d in scalable mode (drivers/iommu/intel/; docs/kernel-facts.md
 * §5.1).
 *
 * - Per device a context entry pointing at the device's PASID table, both
 *   set up at probe (intel_pasid_alloc_table) and kept until release. The
 *   RID's translation lives in PASID entry 0 (IOMMU_NO_PASID), so a RID
 *   attach or block touches entry 0 only and the other PASIDs keep
 *   translating (seed 001 option (a)).
 * - RID attach is break-before-make (intel_iommu_attach_device →
 *   device_block_translation, then the new entry): entry 0 is torn down and
 *   flushed, and for one preemption point DMA on the RID is blocked.
 * - A PASID entry is torn down the way intel_pasid_tear_down_entry does it:
 *   clear, IOTLB, device-TLB (skipped for a disconnected device, B18).
 *   set_dev_pasid replaces in place (intel_pasid_replace_*).
 * - kdump: a device whose context the crashed kernel left translating
 *   (the unit's and the device's attach_deferred) keeps translating through
 *   the copied tables until its first attach; set_dev_pasid is -EBUSY while
 *   the context is copied.
 * - ATS is on while entry 0 translates; the blocking domain turns it off.
 */

type Pgtt = 'blocked' | 'pt' | 'fl' | 'sl';

interface PasidEntry {
  /** PGTT: first-level, second-level, pass-through; 'blocked' is a torn-down entry 0 (the blocking domain). */
  readonly pgtt: Pgtt;
  readonly domain: string;
}

interface VtdDevice {
  /** Context entry: present (scalable mode), or copied from the crashed kernel. */
  context: 'present' | 'copied';
  /** The PASID table; entry 0 is the RID. */
  readonly pasids: Map<number, PasidEntry>;
}

interface Vtd {
  readonly devs: Map<string, VtdDevice>;
}

const NO_PASID = 0;
type K = UK<Vtd>;

function pgttOf(d: HwDomain): Pgtt {
  switch (d.type) {
    case 'blocked':
      return 'blocked';
    case 'identity':
      return 'pt';
    case 'sva':
      return 'fl';
    case 'dma':
    case 'dma-fq':
    case 'paging':
      return d.format === 'sl' ? 'sl' : 'fl';
  }
}

const translating = (e: PasidEntry | undefined): boolean => e !== undefined && (e.pgtt === 'fl' || e.pgtt === 'sl');

/** intel_pasid_tear_down_entry(): clear, IOTLB for the old domain's tag, device-TLB, wait. */
const tearDown = kfunc('intel_pasid_tear_down_entry', { actor: 'unit', unit: 'vtd', source: 'drivers/iommu/intel/pasid.c: intel_pasid_tear_down_entry' }, async function tearDown(k: K, dev: string, pasid: number): Promise<void> {
  const t = k.state.vendor.devs.get(dev);
  const e = t?.pasids.get(pasid);
  if (t === undefined || e === undefined) return;
  t.pasids.delete(pasid);
  if (translating(e)) queueIotlb(k, e.domain, null);
  await flushDeviceEntry(k, dev, pasid === NO_PASID ? null : pasid);
});

function deferredAtBoot(s: UnitState<Vtd> | Omit<UnitState<Vtd>, 'vendor'>, dev: string): boolean {
  return s.spec.attach_deferred === true && (pciSpec(s.topology, dev)?.attach_deferred ?? false);
}

/**
 * device_block_translation(): the RID's old translation goes first (entry 0
 * torn down, ATS off); DMA on the RID is blocked until the new entry is in.
 */
const deviceBlockTranslation = kfunc('device_block_translation', { actor: 'unit', unit: 'vtd', source: 'drivers/iommu/intel/iommu.c: device_block_translation' }, async function deviceBlockTranslation(k: K, dev: string, t: VtdDevice): Promise<void> {
  await tearDown(k, dev, NO_PASID);
  t.pasids.set(NO_PASID, { pgtt: 'blocked', domain: blockedDomainOf(k.state.name) });
  setAts(k, dev, false);
});

const model: VendorModel<Vtd> = {
  kind: 'vtd',
  actorKind: 'vtd-unit',
  // intel_iommu_ops; paging domains are first-stage (intel_fs_paging_domain_ops: the generic x86_64 page table)
  fns: {
    probe_device: 'drivers/iommu/intel/iommu.c: intel_iommu_probe_device',
    release_device: 'drivers/iommu/intel/iommu.c: intel_iommu_release_device',
    domain_alloc: 'drivers/iommu/intel/iommu.c: intel_iommu_domain_alloc_paging_flags',
    domain_free: 'drivers/iommu/intel/iommu.c: intel_iommu_domain_free',
    attach_dev: 'drivers/iommu/intel/iommu.c: intel_iommu_attach_device',
    set_dev_pasid: 'drivers/iommu/intel/iommu.c: intel_iommu_set_dev_pasid',
    remove_dev_pasid: 'drivers/iommu/intel/iommu.c: blocking_domain_set_dev_pasid',
    map: 'drivers/iommu/generic_pt/fmt/iommu_x86_64.c: pt_iommu_x86_64_map_pages',
    unmap: 'drivers/iommu/generic_pt/fmt/iommu_x86_64.c: pt_iommu_x86_64_unmap_pages',
    iotlb_sync: 'drivers/iommu/intel/iommu.c: intel_iommu_tlb_sync',
    flush_iotlb: 'drivers/iommu/intel/cache.c: cache_tag_flush_range',
    flush_devtlb: 'drivers/iommu/intel/dmar.c: qi_flush_dev_iotlb_pasid',
    sync: 'drivers/iommu/intel/dmar.c: qi_submit_sync',
  },
  init: () => ({ devs: new Map() }),

  // first-level page tables for paging domains in scalable mode (the 7.0 default)
  format: (_s, type) => (type === 'blocked' || type === 'identity' ? 'none' : 'fl'),

  probe(k, hw) {
    k.state.vendor.devs.set(hw.dev, { context: deferredAtBoot(k.state, hw.dev) ? 'copied' : 'present', pasids: new Map() });
    return 0;
  },

  release(k, dev) {
    k.state.vendor.devs.delete(dev);
  },

  async attachDev(k, { dev, domain }) {
    const t = k.state.vendor.devs.get(dev.dev);
    if (t === undefined) return errno('ENODEV');
    // the first real attach replaces the copied context
    t.context = 'present';
    const cur = t.pasids.get(NO_PASID);
    if (cur?.domain === domain.id) return 0;
    if (cur !== undefined && cur.pgtt !== 'blocked') {
      // break-before-make: the old RID translation goes first; DMA meanwhile is blocked
      await deviceBlockTranslation(k, dev.dev, t);
      await k.yield();
    }
    const pgtt = pgttOf(domain);
    t.pasids.set(NO_PASID, { pgtt, domain: domain.id });
    setAts(k, dev.dev, pgtt !== 'blocked');
    return 0;
  },

  async setDevPasid(k, { dev, pasid, domain }) {
    const t = k.state.vendor.devs.get(dev.dev);
    if (t === undefined) return errno('ENODEV');
    // intel_iommu_set_dev_pasid(): "if (context_copied(iommu, info->bus, info->devfn)) return -EBUSY"
    if (t.context === 'copied') return errno('EBUSY');
    const cur = t.pasids.get(pasid);
    // intel_pasid_replace_*(): the new entry goes in atomically; then the old translation is flushed
    t.pasids.set(pasid, { pgtt: pgttOf(domain), domain: domain.id });
    // the device issues translated requests for its PASIDs too (iommu_enable_pci_caps)
    setAts(k, dev.dev, true);
    if (cur !== undefined && translating(cur)) queueIotlb(k, cur.domain, null);
    await flushDeviceEntry(k, dev.dev, pasid);
    return 0;
  },

  async removeDevPasid(k, dev, pasid) {
    await tearDown(k, dev, pasid);
    return 0;
  },

  resolve(s, dev, pasid): Resolution {
    const t = s.vendor.devs.get(dev);
    if (t === undefined) return { kind: 'fault', reason: 'no-device-entry', domain: null };
    if (t.context === 'copied') {
      return pasid === null ? { kind: 'copied' } : { kind: 'fault', reason: 'no-pasid-entry', domain: null };
    }
    const e = t.pasids.get(pasid ?? NO_PASID);
    if (e === undefined) return { kind: 'fault', reason: 'no-pasid-entry', domain: null };
    switch (e.pgtt) {
      case 'blocked':
        return { kind: 'blocked', domain: e.domain };
      case 'pt':
        return { kind: 'bypass', domain: e.domain };
      case 'fl':
      case 'sl':
        return { kind: 'translate', domain: e.domain };
    }
  },

  users(s, domain) {
    const out: DomainUser[] = [];
    for (const [dev, t] of s.vendor.devs) {
      for (const [pasid, e] of t.pasids) if (e.domain === domain) out.push({ dev, pasid: pasid === NO_PASID ? null : pasid });
    }
    return out;
  },

  inspect: (s) => ({
    context: Object.fromEntries([...s.vendor.devs].map(([dev, t]) => [dev, {
      context: t.context,
      pasid_table: Object.fromEntries([...t.pasids].map(([p, e]) => [String(p), { ...e }])),
    }])),
  }),
};

export const vtdUnit = defineUnit(model);
export default vtdUnit;
