import { errno } from '../protocol/errno.ts';
import { flushDeviceEntry, queueIotlb } from './common/invalidation.ts';
import { defineUnit } from './common/unit.ts';
import { setAts } from './common/vendor.ts';
import type { DomainUser, Resolution, VendorModel } from './common/vendor.ts';

/**
 * Arm SMMUv3 (drivers/iommu/arm/arm-smmu-v3/; docs/kernel-facts.md §5.1,
 * §5.3), two profiles:
 *
 * 7.0 — the Stream Table Entry of a master is abort, bypass, S2, or "CD
 * table" (stage 1) with S1DSS saying what untagged (RID) traffic does:
 * TERMINATE, BYPASS, or SSID0 = the RID's S1 domain in CD 0. With SSIDs in
 * use a blocked/identity RID keeps the CD table (S1DSS=TERMINATE/BYPASS),
 * so PASIDs are unaffected (option (a)); an S2 RID domain cannot coexist
 * with a CD table: -EBUSY (arm_smmu_ssids_in_use), option (c) for S2.
 * set_dev_pasid takes S1 domains only (-EINVAL with an S2 RID). When the
 * last SSID goes, the STE is downgraded again. A RID change is
 * make-before-break under arm_smmu_asid_lock: no window. ATS stays on
 * while a CD table is installed (a PASID may be using it).
 *
 * 5.10 — arm_smmu_attach_dev() refused any RID attach while SVA was enabled
 * on the master ("cannot attach - SVA enabled", -EBUSY): option (c); there
 * was no set_dev_pasid for paging domains (-EOPNOTSUPP).
 */

type SteMode = 'abort' | 'bypass' | 's2' | 'cdtable';
type S1dss = 'terminate' | 'bypass' | 'ssid0';

interface Master {
  ste: SteMode;
  /** STE.S2 domain (ste = 's2'). */
  s2: string | null;
  /** With ste = 'cdtable': what RID traffic does. */
  s1dss: S1dss;
  /** The CD table: SSID → S1 domain; CD 0 is the RID's S1 domain. */
  readonly cd: Map<number, string>;
  /** The RID domain the core attached (sid_domain), to downgrade the STE to when the last SSID goes. */
  sid: { readonly domain: string; readonly type: string } | null;
}

interface Smmu {
  readonly masters: Map<string, Master>;
}

/** arm_smmu_ssids_in_use(): any CD other than the RID's. */
const ssidsInUse = (m: Master): boolean => [...m.cd.keys()].some((ssid) => ssid !== 0);

/** Installs the STE form for the RID domain given whether SSIDs are in use. */
function installRid(m: Master, rid: { readonly domain: string; readonly type: string; readonly format: string }): void {
  const pasids = ssidsInUse(m);
  m.s2 = null;
  m.cd.delete(0);
  switch (rid.type) {
    case 'blocked':
      if (pasids) [m.ste, m.s1dss] = ['cdtable', 'terminate'];
      else m.ste = 'abort';
      return;
    case 'identity':
      if (pasids) [m.ste, m.s1dss] = ['cdtable', 'bypass'];
      else m.ste = 'bypass';
      return;
    default:
      if (rid.format === 's2') {
        m.ste = 's2';
        m.s2 = rid.domain;
        return;
      }
      m.cd.set(0, rid.domain);
      [m.ste, m.s1dss] = ['cdtable', 'ssid0'];
  }
}

const atsOn = (m: Master): boolean => m.ste === 's2' || m.ste === 'cdtable';

const model: VendorModel<Smmu> = {
  kind: 'smmu-v3',
  actorKind: 'smmu-v3-unit',
  // arm_smmu_ops (drivers/iommu/arm/arm-smmu-v3/arm-smmu-v3.c); page tables from io-pgtable-arm
  fns: {
    probe_device: 'drivers/iommu/arm/arm-smmu-v3/arm-smmu-v3.c: arm_smmu_probe_device',
    release_device: 'drivers/iommu/arm/arm-smmu-v3/arm-smmu-v3.c: arm_smmu_release_device',
    domain_alloc: 'drivers/iommu/arm/arm-smmu-v3/arm-smmu-v3.c: arm_smmu_domain_alloc_paging_flags',
    domain_free: 'drivers/iommu/arm/arm-smmu-v3/arm-smmu-v3.c: arm_smmu_domain_free_paging',
    attach_dev: 'drivers/iommu/arm/arm-smmu-v3/arm-smmu-v3.c: arm_smmu_attach_dev',
    set_dev_pasid: 'drivers/iommu/arm/arm-smmu-v3/arm-smmu-v3.c: arm_smmu_s1_set_dev_pasid',
    remove_dev_pasid: 'drivers/iommu/arm/arm-smmu-v3/arm-smmu-v3.c: arm_smmu_blocking_set_dev_pasid',
    map: 'drivers/iommu/arm/arm-smmu-v3/arm-smmu-v3.c: arm_smmu_map_pages',
    unmap: 'drivers/iommu/arm/arm-smmu-v3/arm-smmu-v3.c: arm_smmu_unmap_pages',
    iotlb_sync: 'drivers/iommu/arm/arm-smmu-v3/arm-smmu-v3.c: arm_smmu_iotlb_sync',
    flush_iotlb: 'drivers/iommu/arm/arm-smmu-v3/arm-smmu-v3.c: arm_smmu_tlb_inv_range_domain',
    flush_devtlb: 'drivers/iommu/arm/arm-smmu-v3/arm-smmu-v3.c: arm_smmu_atc_inv_master',
    sync: 'drivers/iommu/arm/arm-smmu-v3/arm-smmu-v3.c: arm_smmu_cmdq_issue_cmdlist',
  },
  init: () => ({ masters: new Map() }),

  // arm_smmu_domain_alloc_paging_flags(): S1 (SVA and IOMMU_HWPT_ALLOC_PASID need it); S2 for the profile's plain paging domains
  format(s, type, pasid) {
    if (type === 'blocked' || type === 'identity') return 'none';
    if (type === 'sva' || pasid) return 's1';
    return s.profile.plainPagingStage;
  },

  // arm_smmu_init_strtab(): every STE starts as abort
  probe(k, hw) {
    k.state.vendor.masters.set(hw.dev, { ste: 'abort', s2: null, s1dss: 'terminate', cd: new Map(), sid: null });
    return 0;
  },

  release(k, dev) {
    k.state.vendor.masters.delete(dev);
  },

  async attachDev(k, { dev, domain }) {
    const m = k.state.vendor.masters.get(dev.dev);
    if (m === undefined) return errno('ENODEV');
    const legacy = k.state.profile.version === '5.10';
    // 5.10 arm_smmu_attach_dev(): "cannot attach - SVA enabled"
    if (legacy && ssidsInUse(m)) return errno('EBUSY');
    // 7.0: an S2 STE cannot carry the CD table the SSIDs need
    if (domain.format === 's2' && ssidsInUse(m)) return errno('EBUSY');
    const old = m.ste === 's2' ? m.s2 : m.cd.get(0) ?? null;
    // make-before-break: arm_smmu_attach_prepare → install STE/CD → arm_smmu_attach_commit
    installRid(m, { domain: domain.id, type: domain.type, format: domain.format });
    m.sid = { domain: domain.id, type: domain.type };
    setAts(k, dev.dev, atsOn(m));
    if (old !== null && old !== domain.id) queueIotlb(k, old, null);
    await flushDeviceEntry(k, dev.dev, null);
    return 0;
  },

  async setDevPasid(k, { dev, pasid, domain, old }) {
    const m = k.state.vendor.masters.get(dev.dev);
    if (m === undefined) return errno('ENODEV');
    if (k.state.profile.version === '5.10' && domain.type !== 'sva') return errno('EOPNOTSUPP');
    // arm_smmu_s1_set_dev_pasid(): S1 domains only, and not under an S2 RID (the STE has no CD table)
    if (domain.format !== 's1' || m.ste === 's2') return errno('EINVAL');
    m.cd.set(pasid, domain.id);
    if (m.ste !== 'cdtable') {
      // the RID's blocked/identity STE becomes the CD-table form with S1DSS=TERMINATE/BYPASS
      m.s1dss = m.ste === 'bypass' ? 'bypass' : 'terminate';
      m.ste = 'cdtable';
    }
    setAts(k, dev.dev, true);
    if (old !== null && old !== domain.id) queueIotlb(k, old, null);
    await flushDeviceEntry(k, dev.dev, pasid);
    return 0;
  },

  // arm_smmu_blocking_set_dev_pasid(): clear the CD, ATC for that SSID; no SSIDs left → re-attach sid_domain
  async removeDevPasid(k, dev, pasid, domain) {
    const m = k.state.vendor.masters.get(dev);
    if (m === undefined) return 0;
    if (m.cd.delete(pasid)) queueIotlb(k, domain, null);
    await flushDeviceEntry(k, dev, pasid);
    if (!ssidsInUse(m) && m.ste === 'cdtable' && m.s1dss !== 'ssid0') {
      m.ste = m.s1dss === 'bypass' ? 'bypass' : 'abort';
      setAts(k, dev, atsOn(m));
    }
    return 0;
  },

  resolve(s, dev, pasid): Resolution {
    const m = s.vendor.masters.get(dev);
    if (m === undefined) return { kind: 'fault', reason: 'no-device-entry', domain: null };
    const rid = m.sid?.domain ?? null;
    if (m.ste === 'abort') return { kind: 'blocked', domain: rid };
    if (pasid !== null) {
      if (m.ste !== 'cdtable') return { kind: 'fault', reason: 'no-pasid-table', domain: null };
      const d = m.cd.get(pasid);
      return d === undefined ? { kind: 'fault', reason: 'no-pasid-entry', domain: null } : { kind: 'translate', domain: d };
    }
    switch (m.ste) {
      case 'bypass':
        return { kind: 'bypass', domain: rid };
      case 's2':
        return { kind: 'translate', domain: m.s2! };
      case 'cdtable':
        if (m.s1dss === 'terminate') return { kind: 'blocked', domain: rid };
        if (m.s1dss === 'bypass') return { kind: 'bypass', domain: rid };
        return m.cd.has(0) ? { kind: 'translate', domain: m.cd.get(0)! } : { kind: 'fault', reason: 'no-pasid-entry', domain: null };
    }
  },

  users(s, domain) {
    const out: DomainUser[] = [];
    for (const [dev, m] of s.vendor.masters) {
      if (m.ste === 's2' && m.s2 === domain) out.push({ dev, pasid: null });
      for (const [ssid, d] of m.cd) if (d === domain) out.push({ dev, pasid: ssid === 0 ? null : ssid });
    }
    return out;
  },

  inspect: (s) => ({
    ste: Object.fromEntries([...s.vendor.masters].map(([dev, m]) => [dev, {
      config: m.ste, s1dss: m.ste === 'cdtable' ? m.s1dss : null, s2: m.s2,
      cd: Object.fromEntries([...m.cd].map(([ssid, d]) => [String(ssid), d])),
    }])),
  }),
};

export const smmuV3Unit = defineUnit(model);
export default smmuV3Unit;
