import { errno } from '../protocol/errno.ts';
import { blockedDomainOf } from '../protocol/iommu-unit.ts';
import { flushDeviceEntry, queueDevtlb, queueIotlb, syncQueue } from './common/invalidation.ts';
import type { HwDevice, HwDomain, UK } from './common/state.ts';
import { defineUnit } from './common/unit.ts';
import { setAts } from './common/vendor.ts';
import type { DomainUser, Resolution, VendorModel } from './common/vendor.ts';
import { kfunc } from '../runtime/kfunc.ts';

/**
 * AMD-Vi (drivers/iommu/amd/; docs/kernel-facts.md §5.1, §5.3).
 *
 * - Per device a Device Table Entry (DTE): invalid until the first attach,
 *   then blocked (V=1, TV=0), pass-through, or translating through a
 *   protection domain's page table (v1 host table, or v2 for a domain
 *   allocated PASID-capable).
 * - The GCR3 table (the PASID table) hangs off the DTE and lives with the
 *   RID domain: attach_device() creates it (init_gcr3_table) when the new
 *   domain is v2, or identity on a PASID-capable device; detach_device()
 *   destroys it (destroy_gcr3_table) — without looking for live PASIDs. So
 *   every RID change, blocking included, silently drops every PASID while
 *   the core's pasid_array still lists them: seed 001 option (b).
 * - RID attach is detach-then-attach: DTE cleared and flushed, GCR3 gone,
 *   then the new DTE; for one preemption point DMA is blocked.
 * - set_dev_pasid exists only for SVA domains (iommu_sva_set_dev_pasid) and
 *   cannot replace ("if (old) return -EOPNOTSUPP"); without a GCR3 table
 *   it fails with -EINVAL (as read: amd_iommu_set_gcr3 needs
 *   dev_data->gcr3_info).
 */

type DteMode = 'invalid' | 'blocked' | 'passthrough' | 'translate';

interface Dte {
  mode: DteMode;
  domain: string | null;
  /** The GCR3 table: PASID → SVA domain; null when the RID domain has none. */
  gcr3: Map<number, string> | null;
}

interface Amd {
  readonly dtes: Map<string, Dte>;
}

type K = UK<Amd>;

/** pdom_is_sva_capable(): v2 page table, or identity on a PASID-capable device. */
const wantsGcr3 = (d: HwDomain, dev: HwDevice): boolean => d.format === 'v2' || (d.type === 'identity' && dev.maxPasids > 0);

/**
 * detach_device(): clear the DTE (blocked), flush it, flush the old
 * domain's IOTLB tag and the device's ATC, destroy the GCR3 table.
 */
const detachDevice = kfunc('detach_device', { actor: 'unit', unit: 'amd-vi', source: 'drivers/iommu/amd/iommu.c: detach_device' }, async function detachDevice(k: K, dev: string, dte: Dte): Promise<void> {
  const old = dte.domain;
  dte.mode = 'blocked';
  dte.domain = blockedDomainOf(k.state.name);
  // destroy_gcr3_table(): every PASID translation goes with it
  dte.gcr3 = null;
  if (old !== null) queueIotlb(k, old, null);
  await queueDevtlb(k, dev, null, null);
  syncQueue(k);
  setAts(k, dev, false);
});

const model: VendorModel<Amd> = {
  kind: 'amd-vi',
  actorKind: 'amd-vi-unit',
  // amd_iommu_ops; v1 host page tables on the generic page-table code (iommu_amdv1.c)
  fns: {
    probe_device: 'drivers/iommu/amd/iommu.c: amd_iommu_probe_device',
    release_device: 'drivers/iommu/amd/iommu.c: amd_iommu_release_device',
    domain_alloc: 'drivers/iommu/amd/iommu.c: amd_iommu_domain_alloc_paging_flags',
    domain_free: 'drivers/iommu/amd/iommu.c: amd_iommu_domain_free',
    attach_dev: 'drivers/iommu/amd/iommu.c: amd_iommu_attach_device',
    set_dev_pasid: 'drivers/iommu/amd/pasid.c: iommu_sva_set_dev_pasid',
    remove_dev_pasid: 'drivers/iommu/amd/iommu.c: blocked_domain_set_dev_pasid',
    map: 'drivers/iommu/generic_pt/fmt/iommu_amdv1.c: pt_iommu_amdv1_map_pages',
    unmap: 'drivers/iommu/generic_pt/fmt/iommu_amdv1.c: pt_iommu_amdv1_unmap_pages',
    iotlb_sync: 'drivers/iommu/amd/iommu.c: amd_iommu_iotlb_sync',
    flush_iotlb: 'drivers/iommu/amd/iommu.c: amd_iommu_domain_flush_pages',
    flush_devtlb: 'drivers/iommu/amd/iommu.c: device_flush_iotlb',
    sync: 'drivers/iommu/amd/iommu.c: iommu_completion_wait',
  },
  init: () => ({ dtes: new Map() }),

  // amd_iommu_domain_alloc_paging_flags(): v2 for IOMMU_HWPT_ALLOC_PASID, else the v1 host table
  format: (_s, type, pasid) => (type === 'blocked' || type === 'identity' ? 'none' : type === 'sva' || pasid ? 'v2' : 'v1'),

  probe(k, hw) {
    k.state.vendor.dtes.set(hw.dev, { mode: 'invalid', domain: null, gcr3: null });
    return 0;
  },

  release(k, dev) {
    k.state.vendor.dtes.delete(dev);
  },

  async attachDev(k, { dev, domain }) {
    const dte = k.state.vendor.dtes.get(dev.dev);
    if (dte === undefined) return errno('ENODEV');
    if (dte.domain === domain.id && dte.mode !== 'invalid') return 0;
    if (dte.mode !== 'invalid') {
      const wasLive = dte.mode === 'translate' || dte.mode === 'passthrough';
      await detachDevice(k, dev.dev, dte);
      if (wasLive && domain.type !== 'blocked') await k.yield();
    }
    switch (domain.type) {
      case 'blocked':
        // blocked_domain_attach_device(): detach, DTE V=1 TV=0
        dte.mode = 'blocked';
        dte.domain = domain.id;
        dte.gcr3 = null;
        break;
      case 'identity':
        dte.mode = 'passthrough';
        dte.domain = domain.id;
        dte.gcr3 = wantsGcr3(domain, dev) ? new Map() : null;
        break;
      case 'dma':
      case 'dma-fq':
      case 'paging':
        dte.mode = 'translate';
        dte.domain = domain.id;
        dte.gcr3 = wantsGcr3(domain, dev) ? new Map() : null;
        break;
      case 'sva':
        return errno('EINVAL');
    }
    setAts(k, dev.dev, dte.mode !== 'blocked');
    await flushDeviceEntry(k, dev.dev, null);
    return 0;
  },

  async setDevPasid(k, { dev, pasid, domain, old }) {
    const dte = k.state.vendor.dtes.get(dev.dev);
    if (dte === undefined) return errno('ENODEV');
    // no set_dev_pasid for paging domains (the core refuses first, §5.1)
    if (domain.type !== 'sva') return errno('EOPNOTSUPP');
    // drivers/iommu/amd/pasid.c iommu_sva_set_dev_pasid(): "if (old) return -EOPNOTSUPP"
    if (old !== null) return errno('EOPNOTSUPP');
    if (dte.gcr3 === null) return errno('EINVAL');
    dte.gcr3.set(pasid, domain.id);
    await flushDeviceEntry(k, dev.dev, pasid);
    return 0;
  },

  // blocked_domain_set_dev_pasid() → amd_iommu_remove_dev_pasid(): clear the GCR3 slot, flush
  async removeDevPasid(k, dev, pasid, domain) {
    const dte = k.state.vendor.dtes.get(dev);
    if (dte?.gcr3?.delete(pasid) === true) queueIotlb(k, domain, null);
    await flushDeviceEntry(k, dev, pasid);
    return 0;
  },

  resolve(s, dev, pasid): Resolution {
    const dte = s.vendor.dtes.get(dev);
    if (dte === undefined || dte.mode === 'invalid') return { kind: 'fault', reason: 'no-device-entry', domain: null };
    if (pasid !== null) {
      if (dte.mode === 'blocked') return { kind: 'blocked', domain: dte.domain };
      if (dte.gcr3 === null) return { kind: 'fault', reason: 'no-pasid-table', domain: null };
      const d = dte.gcr3.get(pasid);
      return d === undefined ? { kind: 'fault', reason: 'no-pasid-entry', domain: null } : { kind: 'translate', domain: d };
    }
    switch (dte.mode) {
      case 'blocked':
        return { kind: 'blocked', domain: dte.domain };
      case 'passthrough':
        return { kind: 'bypass', domain: dte.domain };
      case 'translate':
        return { kind: 'translate', domain: dte.domain! };
    }
  },

  users(s, domain) {
    const out: DomainUser[] = [];
    for (const [dev, dte] of s.vendor.dtes) {
      if (dte.mode === 'translate' && dte.domain === domain) out.push({ dev, pasid: null });
      for (const [pasid, d] of dte.gcr3 ?? []) if (d === domain) out.push({ dev, pasid });
    }
    return out;
  },

  inspect: (s) => ({
    dte: Object.fromEntries([...s.vendor.dtes].map(([dev, d]) => [dev, {
      mode: d.mode, domain: d.domain, gcr3: d.gcr3 === null ? null : Object.fromEntries([...d.gcr3].map(([p, x]) => [String(p), x])),
    }])),
  }),
};

export const amdViUnit = defineUnit(model);
export default amdViUnit;
