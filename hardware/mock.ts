import { errno } from '../protocol/errno.ts';
import { flushDeviceEntry, queueIotlb } from './common/invalidation.ts';
import { defineUnit } from './common/unit.ts';
import { setAts } from './common/vendor.ts';
import type { DomainUser, Resolution, VendorModel } from './common/vendor.ts';

/**
 * The iommufd selftest mock IOMMU (drivers/iommu/iommufd/selftest.c;
 * docs/kernel-facts.md §7.1):
 *
 * - no identity domain, no DMA domain, no SVA: the static blocking domain
 *   is both default and blocked domain (the core starts mock devices
 *   blocked); paging domains use the AMDv1 format;
 * - mock_domain_nop_attach / mock_domain_set_dev_pasid_nop only record
 *   which domain a RID or PASID uses (replace is in place);
 * - the fault-injection hook of mock_domain_set_dev_pasid_nop: on PASID
 *   1024 the first attach sets a flag, the next call fails with -ENOMEM
 *   and clears it, and the blocked domain (PASID removal) clears it too —
 *   to exercise the core's rollback to the old domain.
 *
 * Not modelled: the selftest.c assertion that attach_dev runs under
 * group->mutex (the unit does not know the group), nested/vIOMMU domains,
 * dirty tracking. Singleton groups come from the topology (devices behind
 * ACS ports or platform devices without a `group`), not from the unit.
 */

const MOCK_FAULT_PASID = 1024;

interface MockDev {
  rid: { readonly domain: string; readonly type: string } | null;
  readonly pasids: Map<number, string>;
  /** mdev->pasid_1024_fake_error. */
  fake1024: boolean;
}

interface Mock {
  readonly devs: Map<string, MockDev>;
}

const model: VendorModel<Mock> = {
  kind: 'mock',
  actorKind: 'mock-unit',
  // mock_ops and amdv1_mock_ops (drivers/iommu/iommufd/selftest.c). mock_ops has no release_device (the core
  // calls nothing; the model only forgets the device there), and the mock has no invalidation hardware: the
  // model's caches of it are flushed by the plain steps, under no kernel name.
  fns: {
    probe_device: 'drivers/iommu/iommufd/selftest.c: mock_probe_device',
    release_device: null,
    domain_alloc: 'drivers/iommu/iommufd/selftest.c: mock_domain_alloc_paging_flags',
    domain_free: 'drivers/iommu/iommufd/selftest.c: mock_domain_free',
    attach_dev: 'drivers/iommu/iommufd/selftest.c: mock_domain_nop_attach',
    set_dev_pasid: 'drivers/iommu/iommufd/selftest.c: mock_domain_set_dev_pasid_nop',
    // PASID removal is the blocking domain's set_dev_pasid, which is mock_domain_set_dev_pasid_nop too: one
    // kernel function, so a patch of it changes both handlers
    remove_dev_pasid: 'drivers/iommu/iommufd/selftest.c: mock_domain_set_dev_pasid_nop',
    map: 'drivers/iommu/generic_pt/fmt/iommu_amdv1.c: pt_iommu_amdv1_mock_map_pages',
    unmap: 'drivers/iommu/generic_pt/fmt/iommu_amdv1.c: pt_iommu_amdv1_mock_unmap_pages',
    iotlb_sync: 'drivers/iommu/iommufd/selftest.c: mock_iotlb_sync',
    flush_iotlb: null,
    flush_devtlb: null,
    sync: null,
  },
  init: () => ({ devs: new Map() }),

  format: (_s, type) => (type === 'sva' ? errno('EOPNOTSUPP') : type === 'blocked' || type === 'identity' ? 'none' : 'amdv1'),

  probe(k, hw) {
    k.state.vendor.devs.set(hw.dev, { rid: null, pasids: new Map(), fake1024: false });
    return 0;
  },

  release(k, dev) {
    k.state.vendor.devs.delete(dev);
  },

  async attachDev(k, { dev, domain }) {
    const m = k.state.vendor.devs.get(dev.dev);
    if (m === undefined) return errno('ENODEV');
    const old = m.rid;
    m.rid = { domain: domain.id, type: domain.type };
    setAts(k, dev.dev, domain.type !== 'blocked');
    if (old !== null && old.domain !== domain.id) queueIotlb(k, old.domain, null);
    await flushDeviceEntry(k, dev.dev, null);
    return 0;
  },

  async setDevPasid(k, { dev, pasid, domain, old }) {
    const m = k.state.vendor.devs.get(dev.dev);
    if (m === undefined) return errno('ENODEV');
    if (pasid === MOCK_FAULT_PASID) {
      if (m.fake1024) {
        // "Clear the flag, and fake an error to fail the replacement."
        m.fake1024 = false;
        return errno('ENOMEM');
      }
      m.fake1024 = true;
    }
    m.pasids.set(pasid, domain.id);
    setAts(k, dev.dev, true);
    if (old !== null && old !== domain.id) queueIotlb(k, old, null);
    await flushDeviceEntry(k, dev.dev, pasid);
    return 0;
  },

  // the blocked domain's set_dev_pasid: the entry goes, and on PASID 1024 the fake-error flag is reset
  async removeDevPasid(k, dev, pasid, domain) {
    const m = k.state.vendor.devs.get(dev);
    if (m === undefined) return 0;
    if (pasid === MOCK_FAULT_PASID) m.fake1024 = false;
    if (m.pasids.delete(pasid)) queueIotlb(k, domain, null);
    await flushDeviceEntry(k, dev, pasid);
    return 0;
  },

  resolve(s, dev, pasid): Resolution {
    const m = s.vendor.devs.get(dev);
    if (m === undefined) return { kind: 'fault', reason: 'no-device-entry', domain: null };
    if (pasid !== null) {
      const d = m.pasids.get(pasid);
      return d === undefined ? { kind: 'fault', reason: 'no-pasid-entry', domain: null } : { kind: 'translate', domain: d };
    }
    if (m.rid === null) return { kind: 'fault', reason: 'no-device-entry', domain: null };
    return m.rid.type === 'blocked' ? { kind: 'blocked', domain: m.rid.domain } : { kind: 'translate', domain: m.rid.domain };
  },

  users(s, domain) {
    const out: DomainUser[] = [];
    for (const [dev, m] of s.vendor.devs) {
      if (m.rid?.domain === domain && m.rid.type !== 'blocked') out.push({ dev, pasid: null });
      for (const [pasid, d] of m.pasids) if (d === domain) out.push({ dev, pasid });
    }
    return out;
  },

  inspect: (s) => ({
    mock: Object.fromEntries([...s.vendor.devs].map(([dev, m]) => [dev, {
      rid: m.rid?.domain ?? null, pasids: Object.fromEntries([...m.pasids].map(([p, d]) => [String(p), d])), pasid_1024_fake_error: m.fake1024,
    }])),
  }),
};

export const mockUnit = defineUnit(model);
export default mockUnit;
