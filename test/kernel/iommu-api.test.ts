import { describe, expect, it } from 'vitest';
import { isErrno } from '../../protocol/errno.ts';
import type { DriverAction } from '../../protocol/driver-actions.ts';
import type { FindingKind } from '../../protocol/findings.ts';
import { DRIVER_CORE, IOMMU_CORE, PCI } from '../../protocol/kernel.ts';
import type { Call } from '../../protocol/kernel.ts';
import { call, groupOf, moduleCall, runKernel, unexpected } from '../helpers/kernel.ts';
import type { KernelRun } from '../helpers/kernel.ts';
import { AMD, FN0, FN1, FREE, GPU0, GPU1, KDUMP, MOCKDEV, NIC, NOIOMMU, RMRR, TOPOLOGY } from './topology.ts';

/**
 * The IOMMU core API against docs/kernel-facts.md §3, table-driven: each
 * case boots the test machine, runs one task of calls in program order and
 * checks every return value (errnos by name), the state after, and which
 * findings the checkers made (none unless the case names them: a WARN site
 * is a `kernel-warn`).
 */

type Want = 'ok' | 0 | null | boolean | string | ((v: unknown) => boolean);

interface ApiCase {
  readonly name: string;
  readonly variants?: Readonly<Record<string, string>>;
  readonly calls: readonly Call[];
  /** One entry per action of module/driver calls and per plain call, in order. */
  readonly want: readonly Want[];
  /** Finding kinds this case must produce (and may); anything else fails the case. */
  readonly findings?: readonly FindingKind[];
  readonly check?: (run: KernelRun) => void;
}

const m = (...actions: DriverAction[]): Call => moduleCall(actions);
const core = (op: string, body: unknown): Call => call(IOMMU_CORE, op, body);
const bind = (dev: string, driver: string): Call => call(DRIVER_CORE, 'bind_store', { dev, driver });
const unbind = (dev: string, driver: string): Call => call(DRIVER_CORE, 'unbind_store', { dev, driver });
const prepare = (dev: string): Call => core('pci_dev_reset_iommu_prepare', { dev });
const done = (dev: string): Call => core('pci_dev_reset_iommu_done', { dev });
const hotRemove = (dev: string): Call => call(PCI, 'pci_stop_and_remove_bus_device_locked', { dev });
const groupGet = (dev: string, as = 'g'): DriverAction => ({ do: 'iommu_group_get', dev, as });
const alloc = (dev: string, as = 'd'): DriverAction => ({ do: 'iommu_paging_domain_alloc', dev, as });

/** Flattens a task's results into one list: module/driver calls contribute their actions' results. */
function flatten(results: readonly unknown[]): unknown[] {
  const out: unknown[] = [];
  for (const r of results) {
    if (Array.isArray(r) && r.every((x) => typeof x === 'object' && x !== null && 'do' in x)) {
      for (const a of r as { ret: unknown }[]) out.push(a.ret);
    } else out.push(isErrno(r) ? r.errno : r);
  }
  return out;
}

const isErrName = (v: unknown): boolean => typeof v === 'string' && /^E[A-Z_0-9]+$/.test(v);

function matches(want: Want, got: unknown): boolean {
  if (typeof want === 'function') return want(got);
  if (want === 'ok') return got !== undefined && !isErrName(got) && !isErrno(got);
  return got === want;
}

/** The group FREE boots into (groups are numbered like the kernel's IDA, in probe order); a boot case checks it. */
const FREE_GROUP = 'iommu_group.6';

const domainOf = (run: KernelRun, dev: string) => groupOf(run, dev).domain;
const defaultOf = (run: KernelRun, dev: string) => groupOf(run, dev).default_domain;
const hwOf = (run: KernelRun, dev: string) => run.core.devIommu.find((d) => d.dev === dev)?.hw_domain ?? null;

const CASES: readonly ApiCase[] = [
  // ---- boot, probe, groups (§3.1) ----------------------------------------------------------
  {
    name: 'boot: an endpoint below an ACS root port is a singleton group on its DMA default domain',
    calls: [], want: [],
    check: (r) => {
      const g = groupOf(r, NIC);
      expect(g.devices).toEqual([NIC]);
      expect(g.domain).toBe(g.default_domain);
      expect(r.core.domains.find((d) => d.id === g.default_domain)?.type).toBe('dma');
      expect(hwOf(r, NIC)).toBe(g.default_domain);
    },
  },
  { name: 'boot: two functions without ACS share one group', calls: [], want: [], check: (r) => expect(groupOf(r, FN0).devices).toEqual([FN0, FN1]) },
  { name: 'boot: a platform group named by the driver holds both devices', calls: [], want: [], check: (r) => expect(groupOf(r, GPU0).devices).toEqual([GPU0, GPU1]) },
  { name: 'boot: groups are numbered in probe order', calls: [], want: [], check: (r) => expect(groupOf(r, FREE).id).toBe(FREE_GROUP) },
  { name: 'boot: a bound kernel driver counts in owner_cnt', calls: [], want: [], check: (r) => expect(groupOf(r, NIC).owner_cnt).toBe(1) },
  { name: 'boot: the mock unit starts devices blocked (no DMA/identity domain)', calls: [], want: [], check: (r) => expect(defaultOf(r, MOCKDEV)).toBe('mock0.blocked_domain') },
  {
    name: 'boot: an attach_deferred device keeps its hardware untouched until first use',
    calls: [], want: [],
    check: (r) => {
      expect(domainOf(r, KDUMP)).toBe(defaultOf(r, KDUMP));
      expect(hwOf(r, KDUMP)).toBeNull();
    },
  },
  { name: 'iommu_group_get: a device behind no IOMMU has no group', calls: [m(groupGet(NOIOMMU))], want: [null] },
  { name: 'iommu_group_get/put: a reference on the group', calls: [m(groupGet(NIC), { do: 'iommu_group_put', group: 'g' })], want: [(v) => typeof v === 'string' && v.startsWith('iommu_group.'), 0] },

  // ---- domain allocation (§3.2) ---------------------------------------------------------------
  { name: 'iommu_paging_domain_alloc: a paging domain for a device with an IOMMU', calls: [m(alloc(NIC))], want: ['ok'] },
  { name: 'iommu_paging_domain_alloc: -ENODEV without an IOMMU', calls: [m(alloc(NOIOMMU))], want: ['ENODEV'] },
  { name: 'iommu_domain_alloc(bus) (ops-only): a domain from the first device with ops', calls: [m({ do: 'iommu_domain_alloc', bus: 'pci', as: 'd' })], want: ['ok'] },
  { name: 'iommu_domain_alloc(bus) (reviewer-locked) from a module: a domain', variants: { 'domain-alloc': 'reviewer-locked' }, calls: [m({ do: 'iommu_domain_alloc', bus: 'pci', as: 'd' })], want: ['ok'] },
  { name: 'iommu_domain_alloc(bus) (v4) with nothing removed: a domain', variants: { 'domain-alloc': 'v4-escaping-dev' }, calls: [m({ do: 'iommu_domain_alloc', bus: 'platform', as: 'd' })], want: ['ok'] },
  { name: 'iommu_domain_free: 0', calls: [m(alloc(NIC), { do: 'iommu_domain_free', domain: 'd' })], want: ['ok', 0] },

  // ---- RID attach (§3.3) ---------------------------------------------------------------------------
  {
    name: 'iommu_attach_device: a singleton group switches to the driver domain',
    calls: [m(alloc(FREE), { do: 'iommu_attach_device', dev: FREE, domain: 'd' })], want: ['ok', 0],
    check: (r) => {
      expect(domainOf(r, FREE)).not.toBe(defaultOf(r, FREE));
      expect(hwOf(r, FREE)).toBe(domainOf(r, FREE));
    },
  },
  { name: 'iommu_attach_device: -EINVAL for a multi-device group', calls: [m(alloc(FN0), { do: 'iommu_attach_device', dev: FN0, domain: 'd' })], want: ['ok', 'EINVAL'] },
  { name: 'iommu_attach_device: -ENODEV without a group', calls: [m(alloc(NIC), { do: 'iommu_attach_device', dev: NOIOMMU, domain: 'd' })], want: ['ok', 'ENODEV'] },
  {
    name: 'iommu_attach_device: -EBUSY while another private domain is attached',
    calls: [m(alloc(FREE, 'd1'), alloc(FREE, 'd2'), { do: 'iommu_attach_device', dev: FREE, domain: 'd1' }, { do: 'iommu_attach_device', dev: FREE, domain: 'd2' })],
    want: ['ok', 'ok', 0, 'EBUSY'],
  },
  { name: 'iommu_attach_device: -EINVAL for a domain of another IOMMU driver', calls: [m(alloc(GPU0), { do: 'iommu_attach_device', dev: FREE, domain: 'd' })], want: ['ok', 'EINVAL'] },
  { name: 'iommu_attach_device: does not consult owner_cnt (a bound kernel driver may switch)', calls: [m(alloc(NIC), { do: 'iommu_attach_device', dev: NIC, domain: 'd' })], want: ['ok', 0] },
  {
    name: 'iommu_detach_device: back to the default domain',
    calls: [m(alloc(FREE), { do: 'iommu_attach_device', dev: FREE, domain: 'd' }, { do: 'iommu_detach_device', dev: FREE, domain: 'd' })],
    want: ['ok', 0, 0],
    check: (r) => expect(domainOf(r, FREE)).toBe(defaultOf(r, FREE)),
  },
  {
    name: 'iommu_detach_device: a domain that is not attached is a WARN and ignored',
    calls: [m(alloc(FREE), { do: 'iommu_detach_device', dev: FREE, domain: 'd' })], want: ['ok', 0], findings: ['kernel-warn'],
  },
  {
    name: 'iommu_attach_device: -EBUSY while a member resets, 0 after',
    calls: [m(alloc(NIC)), prepare(NIC), m({ do: 'iommu_attach_device', dev: NIC, domain: 'd' }), done(NIC), m({ do: 'iommu_attach_device', dev: NIC, domain: 'd' })],
    want: ['ok', 0, 'EBUSY', 0, 0],
  },
  {
    name: 'iommu_attach_device in a user-owned group: from the blocking domain, and detach returns to blocking',
    calls: [m(groupGet(FREE), { do: 'iommu_group_claim_dma_owner', group: 'g', owner: 'vfio' }, alloc(FREE), { do: 'iommu_attach_device', dev: FREE, domain: 'd' }, { do: 'iommu_detach_device', dev: FREE, domain: 'd' })],
    want: ['ok', 0, 'ok', 0, 0],
    check: (r) => expect(domainOf(r, FREE)).toBe(groupOf(r, FREE).blocking_domain),
  },
  {
    name: 'iommu_attach_group / detach_group on a multi-device group owned by a user (type1)',
    calls: [m(groupGet(FN0), { do: 'iommu_group_claim_dma_owner', group: 'g', owner: 'container' }, alloc(FN0), { do: 'iommu_attach_group', group: 'g', domain: 'd' })],
    want: ['ok', 0, 'ok', 0],
    check: (r) => {
      const g = groupOf(r, FN0);
      expect(g.domain).not.toBe(g.blocking_domain);
      expect(hwOf(r, FN1)).toBe(g.domain);
    },
  },
  {
    name: 'iommu_detach_group: restores the core domain (blocking while owned)',
    calls: [m(groupGet(FN0), { do: 'iommu_group_claim_dma_owner', group: 'g', owner: 'c' }, alloc(FN0), { do: 'iommu_attach_group', group: 'g', domain: 'd' }, { do: 'iommu_detach_group', group: 'g', domain: 'd' })],
    want: ['ok', 0, 'ok', 0, 0],
    check: (r) => expect(domainOf(r, FN0)).toBe(groupOf(r, FN0).blocking_domain),
  },
  { name: 'iommu_get_domain_for_dev: the current RID domain', calls: [m({ do: 'iommu_get_domain_for_dev', dev: NIC })], want: ['ok'], check: (r) => expect(domainOf(r, NIC)).toBe(defaultOf(r, NIC)) },

  // ---- kernel DMA users and ownership (§3.4) ------------------------------------------------------------
  { name: 'bind: a kernel driver counts in owner_cnt', calls: [bind(FREE, 'nic')], want: [0], check: (r) => expect(groupOf(r, FREE).owner_cnt).toBe(1) },
  { name: 'unbind: the count drops back', calls: [unbind(NIC, 'nic')], want: [0], check: (r) => expect(groupOf(r, NIC).owner_cnt).toBe(0) },
  { name: 'bind: a driver_managed_dma driver does not count', calls: [bind(FREE, 'vfio-pci')], want: [0], check: (r) => expect(groupOf(r, FREE).owner_cnt).toBe(0) },
  { name: 'bind: no group, nothing to count', calls: [bind(NOIOMMU, 'nic')], want: [0] },
  {
    name: 'bind: -EBUSY into a user-owned group (refused up front, 5.19+)',
    calls: [m(groupGet(FREE), { do: 'iommu_group_claim_dma_owner', group: 'g', owner: 'vfio' }), bind(FREE, 'nic')], want: ['ok', 0, 'EBUSY'],
    check: (r) => expect(groupOf(r, FREE).owner_cnt).toBe(1),
  },
  {
    name: 'bind: -EBUSY while a kernel user counts and a private domain is attached',
    calls: [bind(FN0, 'nic'), m(groupGet(FN0), alloc(FN0), { do: 'iommu_attach_group', group: 'g', domain: 'd' }), bind(FN1, 'nic')],
    want: [0, 'ok', 'ok', 0, 'EBUSY'],
  },
  { name: 'bind: a driver_managed_dma driver into a user-owned group', calls: [m(groupGet(FREE), { do: 'iommu_group_claim_dma_owner', group: 'g', owner: 'vfio' }), bind(FREE, 'vfio-pci')], want: ['ok', 0, 0] },
  {
    name: 'iommu_group_claim_dma_owner: the group moves to the blocking domain',
    calls: [m(groupGet(FREE), { do: 'iommu_group_claim_dma_owner', group: 'g', owner: 'vfio' })], want: ['ok', 0],
    check: (r) => {
      const g = groupOf(r, FREE);
      expect(g.owner).toBe('vfio');
      expect(g.owner_cnt).toBe(1);
      expect(g.domain).toBe('vtd0.blocked_domain');
      expect(hwOf(r, FREE)).toBe('vtd0.blocked_domain');
    },
  },
  { name: 'iommu_group_claim_dma_owner: -EPERM with a kernel driver bound', calls: [m(groupGet(NIC), { do: 'iommu_group_claim_dma_owner', group: 'g', owner: 'vfio' })], want: ['ok', 'EPERM'] },
  {
    name: 'iommu_group_claim_dma_owner: -EPERM for a second owner',
    calls: [m(groupGet(FREE), { do: 'iommu_group_claim_dma_owner', group: 'g', owner: 'a' }, { do: 'iommu_group_claim_dma_owner', group: 'g', owner: 'b' })], want: ['ok', 0, 'EPERM'],
  },
  { name: 'iommu_group_claim_dma_owner: NULL owner is a WARN and -EINVAL', calls: [m(groupGet(FREE), { do: 'iommu_group_claim_dma_owner', group: 'g', owner: '' })], want: ['ok', 'EINVAL'], findings: ['kernel-warn'] },
  {
    name: 'iommu_group_claim_dma_owner: -EINVAL for a require_direct (RMRR) device',
    calls: [m(groupGet(RMRR), { do: 'iommu_group_claim_dma_owner', group: 'g', owner: 'vfio' })], want: ['ok', 'EINVAL'], findings: ['kernel-warn'],
    check: (r) => expect(groupOf(r, RMRR).owner).toBeNull(),
  },
  {
    name: 'iommu_group_claim_dma_owner: -EBUSY with a PASID attached',
    calls: [m(alloc(FN0), { do: 'iommu_attach_device_pasid', dev: FN0, domain: 'd', pasid: 5 }, groupGet(FN0), { do: 'iommu_group_claim_dma_owner', group: 'g', owner: 'vfio' })],
    want: ['ok', 0, 'ok', 'EBUSY'],
  },
  {
    name: 'iommu_group_claim_dma_owner: -EBUSY while a private domain is attached',
    calls: [m(alloc(FREE), { do: 'iommu_attach_device', dev: FREE, domain: 'd' }, groupGet(FREE), { do: 'iommu_group_claim_dma_owner', group: 'g', owner: 'vfio' })],
    want: ['ok', 0, 'ok', 'EBUSY'],
  },
  { name: 'iommu_group_claim_dma_owner: -EBUSY while a member resets', calls: [prepare(FN0), m(groupGet(FN0), { do: 'iommu_group_claim_dma_owner', group: 'g', owner: 'vfio' }), done(FN0)], want: [0, 'ok', 'EBUSY', 0] },
  {
    name: 'iommu_group_release_dma_owner: back to the default domain',
    calls: [m(groupGet(FREE), { do: 'iommu_group_claim_dma_owner', group: 'g', owner: 'vfio' }, { do: 'iommu_group_release_dma_owner', group: 'g' })], want: ['ok', 0, 0],
    check: (r) => {
      const g = groupOf(r, FREE);
      expect([g.owner, g.owner_cnt, g.domain]).toEqual([null, 0, g.default_domain]);
    },
  },
  { name: 'iommu_group_release_dma_owner: not owned is a WARN', calls: [m(groupGet(FREE), { do: 'iommu_group_release_dma_owner', group: 'g' })], want: ['ok', 0], findings: ['kernel-warn'] },
  {
    name: 'iommu_group_dma_owner_claimed: false, then true after a claim',
    calls: [core('iommu_group_dma_owner_claimed', { group: FREE_GROUP }), m(groupGet(FREE), { do: 'iommu_group_claim_dma_owner', group: 'g', owner: 'vfio' }),
      core('iommu_group_dma_owner_claimed', { group: FREE_GROUP })],
    want: [false, FREE_GROUP, 0, true],
  },
  { name: 'iommu_device_claim_dma_owner: a singleton group', calls: [m({ do: 'iommu_device_claim_dma_owner', dev: FREE, owner: 'ictx1' })], want: [0], check: (r) => expect(groupOf(r, FREE).owner).toBe('ictx1') },
  {
    name: 'iommu_device_claim_dma_owner: the same owner shares the group',
    calls: [m({ do: 'iommu_device_claim_dma_owner', dev: FN0, owner: 'ictx1' }, { do: 'iommu_device_claim_dma_owner', dev: FN1, owner: 'ictx1' })], want: [0, 0],
    check: (r) => expect(groupOf(r, FN0).owner_cnt).toBe(2),
  },
  { name: 'iommu_device_claim_dma_owner: -EPERM for another owner', calls: [m({ do: 'iommu_device_claim_dma_owner', dev: FN0, owner: 'ictx1' }, { do: 'iommu_device_claim_dma_owner', dev: FN1, owner: 'ictx2' })], want: [0, 'EPERM'] },
  { name: 'iommu_device_claim_dma_owner: -EPERM with a kernel driver on a sibling', calls: [bind(FN1, 'nic'), m({ do: 'iommu_device_claim_dma_owner', dev: FN0, owner: 'ictx1' })], want: [0, 'EPERM'] },
  { name: 'iommu_device_claim_dma_owner: -ENODEV without a group', calls: [m({ do: 'iommu_device_claim_dma_owner', dev: NOIOMMU, owner: 'ictx1' })], want: ['ENODEV'] },
  { name: 'iommu_device_claim_dma_owner: -EINVAL for a NULL owner', calls: [m({ do: 'iommu_device_claim_dma_owner', dev: FREE, owner: '' })], want: ['EINVAL'] },
  {
    name: 'iommu_device_release_dma_owner: the last sharer restores the default domain',
    calls: [
      m({ do: 'iommu_device_claim_dma_owner', dev: FN0, owner: 'i' }, { do: 'iommu_device_claim_dma_owner', dev: FN1, owner: 'i' }, { do: 'iommu_device_release_dma_owner', dev: FN0 }),
      m({ do: 'iommu_device_release_dma_owner', dev: FN1 }),
    ],
    want: [0, 0, 0, 0],
    check: (r) => {
      const g = groupOf(r, FN0);
      expect([g.owner, g.owner_cnt, g.domain]).toEqual([null, 0, g.default_domain]);
    },
  },

  // ---- PASIDs and SVA (§3.5) -----------------------------------------------------------------------------------
  {
    name: 'iommu_attach_device_pasid: published in pasid_array',
    calls: [m(alloc(NIC), { do: 'iommu_attach_device_pasid', dev: NIC, domain: 'd', pasid: 3 })], want: ['ok', 0],
    check: (r) => expect(Object.keys(groupOf(r, NIC).pasid_array)).toEqual(['3']),
  },
  { name: 'iommu_attach_device_pasid: -EBUSY for an attached PASID', calls: [m(alloc(NIC), { do: 'iommu_attach_device_pasid', dev: NIC, domain: 'd', pasid: 3 }, { do: 'iommu_attach_device_pasid', dev: NIC, domain: 'd', pasid: 3 })], want: ['ok', 0, 'EBUSY'] },
  { name: 'iommu_attach_device_pasid: -EINVAL for IOMMU_NO_PASID', calls: [m(alloc(NIC), { do: 'iommu_attach_device_pasid', dev: NIC, domain: 'd', pasid: 0 })], want: ['ok', 'EINVAL'] },
  { name: 'iommu_attach_device_pasid: -EINVAL beyond max_pasids', calls: [m(alloc(NIC), { do: 'iommu_attach_device_pasid', dev: NIC, domain: 'd', pasid: 1 << 20 })], want: ['ok', 'EINVAL'] },
  { name: 'iommu_attach_device_pasid: -ENODEV without a group', calls: [m(alloc(NIC), { do: 'iommu_attach_device_pasid', dev: NOIOMMU, domain: 'd', pasid: 1 })], want: ['ok', 'ENODEV'] },
  { name: 'iommu_attach_device_pasid: -EOPNOTSUPP for an AMD paging domain', calls: [m(alloc(AMD), { do: 'iommu_attach_device_pasid', dev: AMD, domain: 'd', pasid: 1 })], want: ['ok', 'EOPNOTSUPP'] },
  { name: 'iommu_attach_device_pasid: -EBUSY while a member resets', calls: [m(alloc(NIC)), prepare(NIC), m({ do: 'iommu_attach_device_pasid', dev: NIC, domain: 'd', pasid: 3 }), done(NIC)], want: ['ok', 0, 'EBUSY', 0] },
  { name: 'iommu_replace_device_pasid: -EINVAL for a PASID not attached', calls: [m(alloc(NIC), { do: 'iommu_replace_device_pasid', dev: NIC, domain: 'd', pasid: 3 })], want: ['ok', 'EINVAL'] },
  {
    name: 'iommu_replace_device_pasid: the PASID moves to the new domain',
    calls: [m(alloc(NIC, 'd1'), alloc(NIC, 'd2'), { do: 'iommu_attach_device_pasid', dev: NIC, domain: 'd1', pasid: 3 }, { do: 'iommu_replace_device_pasid', dev: NIC, domain: 'd2', pasid: 3 })],
    want: ['ok', 'ok', 0, 0],
  },
  {
    // drivers/iommu/iommu.c iommu_replace_device_pasid(): curr_domain == domain skips __iommu_set_group_pasid; only the entry changes
    name: 'iommu_replace_device_pasid: the same domain under a new handle returns 0 without a WARN',
    calls: [m(alloc(NIC), { do: 'iommu_attach_device_pasid', dev: NIC, domain: 'd', pasid: 3, handle: 'h1' }, { do: 'iommu_replace_device_pasid', dev: NIC, domain: 'd', pasid: 3, handle: 'h2' })],
    want: ['ok', 0, 0],
    check: (r) => expect(groupOf(r, NIC).pasid_handles).toEqual({ 3: 'h2' }),
  },
  {
    name: 'iommu_replace_device_pasid: the same handle reused is a WARN and -EINVAL, the entry stays',
    calls: [m(alloc(NIC, 'd1'), alloc(NIC, 'd2'), { do: 'iommu_attach_device_pasid', dev: NIC, domain: 'd1', pasid: 3, handle: 'h1' }, { do: 'iommu_replace_device_pasid', dev: NIC, domain: 'd2', pasid: 3, handle: 'h1' })],
    want: ['ok', 'ok', 0, 'EINVAL'], findings: ['kernel-warn'],
    check: (r) => expect(Object.keys(groupOf(r, NIC).pasid_array)).toEqual(['3']),
  },
  {
    name: 'iommu_replace_device_pasid: a bare-domain entry replaced by the same domain (iommufd\'s fresh handle) is 0',
    calls: [m(alloc(NIC), { do: 'iommu_attach_device_pasid', dev: NIC, domain: 'd', pasid: 3 }, { do: 'iommu_replace_device_pasid', dev: NIC, domain: 'd', pasid: 3 })],
    want: ['ok', 0, 0],
  },
  {
    name: 'iommu_detach_device_pasid: the entry goes',
    calls: [m(alloc(NIC), { do: 'iommu_attach_device_pasid', dev: NIC, domain: 'd', pasid: 3 }, { do: 'iommu_detach_device_pasid', dev: NIC, domain: 'd', pasid: 3 })], want: ['ok', 0, 0],
    check: (r) => expect(groupOf(r, NIC).pasid_array).toEqual({}),
  },
  {
    name: 'bind: -EBUSY for a second kernel user while a PASID is attached',
    calls: [bind(FN0, 'nic'), m(alloc(FN0), { do: 'iommu_attach_device_pasid', dev: FN0, domain: 'd', pasid: 2 }), bind(FN1, 'nic')], want: [0, 'ok', 0, 'EBUSY'],
  },
  {
    name: 'iommu_sva_bind_device: a bond on the mm\'s global PASID',
    calls: [m({ do: 'iommu_sva_bind_device', dev: NIC, mm: 'mm1', as: 'h' })], want: ['ok'], findings: ['refcount-leak'],
    check: (r) => expect(Object.keys(groupOf(r, NIC).pasid_array)).toEqual(['1']),
  },
  {
    name: 'iommu_sva_bind_device: the same mm again shares the bond; two unbinds free it',
    calls: [m({ do: 'iommu_sva_bind_device', dev: NIC, mm: 'mm1', as: 'h1' }, { do: 'iommu_sva_bind_device', dev: NIC, mm: 'mm1', as: 'h2' }, { do: 'iommu_sva_unbind_device', handle: 'h1' }, { do: 'iommu_sva_unbind_device', handle: 'h2' })],
    want: ['ok', 'ok', 0, 0],
    check: (r) => {
      expect(groupOf(r, NIC).pasid_array).toEqual({});
      expect(r.core.domains.filter((d) => d.type === 'sva')).toEqual([]);
    },
  },
  { name: 'iommu_sva_bind_device: -ENOSPC for a device without PASIDs', calls: [m({ do: 'iommu_sva_bind_device', dev: FN1, mm: 'mm1', as: 'h' })], want: ['ENOSPC'] },
  { name: 'iommu_sva_bind_device: -ENODEV without a group', calls: [m({ do: 'iommu_sva_bind_device', dev: NOIOMMU, mm: 'mm1', as: 'h' })], want: ['ENODEV'] },
  { name: 'iommu_sva_bind_device: -EOPNOTSUPP on an IOMMU without SVA (mock)', calls: [m({ do: 'iommu_sva_bind_device', dev: MOCKDEV, mm: 'mm1', as: 'h' })], want: ['EOPNOTSUPP'] },
  {
    name: 'iommu_sva_bind_device: -EBUSY when the PASID holds a non-SVA domain',
    calls: [m(alloc(NIC), { do: 'iommu_attach_device_pasid', dev: NIC, domain: 'd', pasid: 1 }, { do: 'iommu_sva_bind_device', dev: NIC, mm: 'mm1', as: 'h' })], want: ['ok', 0, 'EBUSY'],
  },
  {
    name: 'iommu_sva_bind_device: -EOVERFLOW when the mm\'s PASID exceeds the device',
    calls: [m({ do: 'iommu_sva_bind_device', dev: NIC, mm: 'mm1', as: 'h1' }, { do: 'iommu_sva_bind_device', dev: NIC, mm: 'mm2', as: 'h2' }, { do: 'iommu_sva_bind_device', dev: AMD, mm: 'mm2', as: 'h3' })],
    want: ['ok', 'ok', 'EOVERFLOW'], findings: ['refcount-leak'],
  },

  // ---- PCI reset (§3.6) ------------------------------------------------------------------------------------------
  {
    name: 'pci_reset_function: the device is staged on the blocking domain and comes back',
    calls: [call(PCI, 'pci_reset_function', { dev: NIC })], want: [0],
    check: (r) => {
      const g = groupOf(r, NIC);
      expect(g.resetting_domain).toBeNull();
      expect(hwOf(r, NIC)).toBe(g.domain);
    },
  },
  {
    name: 'pci_dev_reset_iommu_prepare: group->domain keeps the pre-reset domain while the hardware is blocked',
    calls: [prepare(NIC)], want: [0],
    check: (r) => {
      const g = groupOf(r, NIC);
      expect(g.resetting_domain).toBe(g.blocking_domain);
      expect(g.domain).toBe(g.default_domain);
      expect(hwOf(r, NIC)).toBe(g.blocking_domain);
    },
  },
  { name: 'pci_dev_reset_iommu_prepare: nested prepare is a WARN and -EBUSY (7.0.0)', calls: [prepare(NIC), prepare(NIC), done(NIC)], want: [0, 'EBUSY', 0], findings: ['kernel-warn'] },
  {
    name: 'pci_dev_reset_iommu_prepare: nested prepare counts with the stable fix',
    variants: { 'reset-nesting': 'depth-counter' }, calls: [prepare(NIC), prepare(NIC), done(NIC), done(NIC)], want: [0, 0, 0, 0],
    check: (r) => expect(groupOf(r, NIC).resetting_domain).toBeNull(),
  },
  { name: 'pci_dev_reset_iommu_done: without prepare, nothing happens', calls: [done(NIC)], want: [0] },
  { name: 'pci_dev_reset_iommu_prepare: a device without ATS is skipped', calls: [prepare(FREE)], want: [0], check: (r) => expect(groupOf(r, FREE).resetting_domain).toBeNull() },
  {
    name: 'pci_dev_reset_iommu_prepare/done: pasid_array is kept across the reset',
    calls: [m(alloc(NIC), { do: 'iommu_attach_device_pasid', dev: NIC, domain: 'd', pasid: 4 }), prepare(NIC), done(NIC)], want: ['ok', 0, 0, 0],
    check: (r) => expect(Object.keys(groupOf(r, NIC).pasid_array)).toEqual(['4']),
  },
  {
    name: 'pci_dev_reset_iommu_prepare: a require_direct device is blocked anyway (7.0.0 bypass)',
    calls: [prepare(RMRR)], want: [0], findings: ['invariant-violation'],
  },
  {
    name: 'pci_dev_reset_iommu_prepare: rmr-paging keeps the direct mapping of a require_direct device',
    variants: { 'reset-blocking': 'rmr-paging' }, calls: [prepare(RMRR), done(RMRR)], want: [0, 0],
    check: (r) => expect(hwOf(r, RMRR)).toBe(domainOf(r, RMRR)),
  },
  { name: 'pci_try_reset_function: 0 when nobody holds the device', calls: [call(PCI, 'pci_try_reset_function', { dev: NIC })], want: [0] },

  // ---- deferred attach and the DMA API (§3.5) ----------------------------------------------------------------------
  {
    name: 'iommu_deferred_attach: the first DMA map attaches the default domain',
    calls: [m({ do: 'dma_map', dev: KDUMP, as: 'iova' })], want: [(v) => typeof v === 'number'],
    check: (r) => expect(hwOf(r, KDUMP)).toBe(defaultOf(r, KDUMP)),
  },
  {
    // prepare's own __iommu_attach_device ends the deferral, so a map inside the window does not attach
    name: 'iommu_deferred_attach: prepare ends the deferral; a map during the reset leaves the device blocked',
    calls: [prepare(KDUMP), m({ do: 'dma_map', dev: KDUMP, as: 'iova' })], want: [0, (v) => typeof v === 'number'],
    check: (r) => expect(hwOf(r, KDUMP)).toBe(groupOf(r, KDUMP).blocking_domain),
  },
  { name: 'dma_map: an IOVA from the DMA domain', calls: [m({ do: 'dma_map', dev: NIC, as: 'iova' })], want: [(v) => typeof v === 'number'] },

  // ---- sysfs group type (§3.4) -----------------------------------------------------------------------------------------
  { name: 'iommu_group_store_type: -EACCES without CAP_SYS_RAWIO', calls: [core('iommu_group_store_type', { group: FREE_GROUP, type: 'identity', capable: false })], want: ['EACCES'] },
  { name: 'iommu_group_store_type: -EPERM with a driver bound', calls: [bind(FREE, 'nic'), core('iommu_group_store_type', { group: FREE_GROUP, type: 'identity' })], want: [0, 'EPERM'] },
  {
    name: 'iommu_group_store_type: an unbound group gets a new identity default domain',
    calls: [core('iommu_group_store_type', { group: FREE_GROUP, type: 'identity' })], want: [0],
    check: (r) => {
      expect(defaultOf(r, FREE)).toBe('vtd0.identity_domain');
      expect(domainOf(r, FREE)).toBe('vtd0.identity_domain');
    },
  },
  {
    name: 'iommu_group_store_type: DMA → DMA-FQ is an in-place upgrade even with a driver bound',
    calls: [bind(FREE, 'nic'), core('iommu_group_store_type', { group: FREE_GROUP, type: 'DMA-FQ' })], want: [0, 0],
    check: (r) => expect(r.core.domains.find((d) => d.id === defaultOf(r, FREE))?.type).toBe('dma-fq'),
  },

  // ---- release (§3.1) ------------------------------------------------------------------------------------------------------
  {
    name: 'hot-remove: the last member leaves and the group goes',
    calls: [m(groupGet(FREE), { do: 'iommu_group_put', group: 'g' }), hotRemove(FREE)], want: ['ok', 0, 0],
    check: (r) => expect(r.core.devices.find((d) => d.id === FREE)?.iommu_group ?? null).toBeNull(),
  },
  { name: 'hot-remove: one function of a shared group leaves, the other stays', calls: [hotRemove(FN1)], want: [0], check: (r) => expect(groupOf(r, FN0).devices).toEqual([FN0]) },
  { name: 'hot-remove: a bound device is unbound first and its count dropped', calls: [hotRemove(NIC)], want: [0], check: (r) => expect(r.core.devices.find((d) => d.id === NIC)?.iommu_group ?? null).toBeNull() },
  {
    name: 'hot-remove: the last member of a user-owned group leaves with owner_cnt set (WARN)',
    calls: [m(groupGet(FREE), { do: 'iommu_group_claim_dma_owner', group: 'g', owner: 'vfio' }, { do: 'iommu_group_put', group: 'g' }), hotRemove(FREE)], want: ['ok', 0, 0, 0],
    findings: ['kernel-warn', 'invariant-violation'],
  },

  // ---- seed 002: shared attach -------------------------------------------------------------------------------------------------
  { name: 'iommu_attach_device_shared (singleton-only): -EINVAL on a multi-device group', calls: [m(alloc(GPU0), { do: 'iommu_attach_device_shared', dev: GPU0, domain: 'd' })], want: ['ok', 'EINVAL'] },
  {
    name: 'iommu_attach_device_shared (shared-owner-cnt): the same domain joins, another is refused, a user claim gets -EPERM',
    variants: { 'shared-attach': 'shared-owner-cnt' },
    calls: [m(alloc(GPU0, 'd'), alloc(GPU0, 'd2'), { do: 'iommu_attach_device_shared', dev: GPU0, domain: 'd' }, { do: 'iommu_attach_device_shared', dev: GPU1, domain: 'd' },
      { do: 'iommu_attach_device_shared', dev: GPU1, domain: 'd2' }, groupGet(GPU0), { do: 'iommu_group_claim_dma_owner', group: 'g', owner: 'vfio' })],
    want: ['ok', 'ok', 0, 0, 'EBUSY', 'ok', 'EPERM'], findings: ['invariant-violation'],
  },
  {
    name: 'iommu_attach_device_shared (shared-owner-cnt): -EPERM while a user owns the group',
    variants: { 'shared-attach': 'shared-owner-cnt' },
    calls: [m(groupGet(GPU0), { do: 'iommu_group_claim_dma_owner', group: 'g', owner: 'vfio' }, alloc(GPU0), { do: 'iommu_attach_device_shared', dev: GPU0, domain: 'd' })],
    want: ['ok', 0, 'ok', 'EPERM'],
  },
  {
    name: 'iommu_attach_device_shared (shared-ignores-owner): switches a user-owned group',
    variants: { 'shared-attach': 'shared-ignores-owner' },
    calls: [m(groupGet(GPU0), { do: 'iommu_group_claim_dma_owner', group: 'g', owner: 'vfio' }, alloc(GPU0), { do: 'iommu_attach_device_shared', dev: GPU0, domain: 'd' })],
    want: ['ok', 0, 'ok', 0],
    check: (r) => expect(groupOf(r, GPU0).owner).toBe('vfio'),
  },

  // ---- seed 000: how a bind and a user claim exclude each other --------------------------------------------------------------
  { name: 'dma-owner=owner-cnt: a claim after a sibling bind gets -EPERM', calls: [bind(FN1, 'nic'), m(groupGet(FN0), { do: 'iommu_group_claim_dma_owner', group: 'g', owner: 'vfio' })], want: [0, 'ok', 'EPERM'] },
  {
    name: 'dma-owner=viable-scan-unlocked: the claim scans dev->driver unlocked (-EBUSY) and a later bind is not refused',
    variants: { 'dma-owner': 'viable-scan-unlocked' },
    calls: [bind(FN1, 'nic'), m(groupGet(FN0), { do: 'iommu_group_claim_dma_owner', group: 'g', owner: 'vfio' }), unbind(FN1, 'nic'), m({ do: 'iommu_group_claim_dma_owner', group: 'g', owner: 'vfio' }), bind(FN1, 'nic')],
    want: [0, 'ok', 'EBUSY', 0, 0, 0], findings: ['unguarded-access', 'invariant-violation'],
  },
  {
    name: 'dma-owner=notifier-bug-on: a bind into a user-owned group is a BUG_ON after the probe',
    variants: { 'dma-owner': 'notifier-bug-on' },
    calls: [m(groupGet(FN0), { do: 'iommu_group_claim_dma_owner', group: 'g', owner: 'vfio' }), bind(FN1, 'nic')],
    want: [], findings: ['kernel-bug', 'invariant-violation'],
  },
];

describe('IOMMU core API (docs/kernel-facts.md §3), one execution per case', () => {
  it('has at least 60 cases', () => expect(CASES.length).toBeGreaterThanOrEqual(60));
  for (const c of CASES) {
    it(c.name, async () => {
      const run = await runKernel({ name: c.name, topology: TOPOLOGY, variants: c.variants ?? {}, tasks: [{ id: 't', calls: c.calls }] }, { seed: 7 });
      expect(unexpected(run.result.findings, c.findings ?? [])).toEqual([]);
      for (const kind of c.findings ?? []) expect(run.result.findings.map((f) => f.kind), kind).toContain(kind);
      // a BUG_ON ends the task: it has no results
      if (!(c.findings ?? []).includes('kernel-bug')) {
        const got = flatten((run.result.results['t'] ?? []) as readonly unknown[]);
        expect(got.length, `results: ${JSON.stringify(got)}`).toBe(c.want.length);
        c.want.forEach((w, i) => expect(matches(w, got[i]), `result ${i}: want ${String(w)}, got ${JSON.stringify(got[i])} (all: ${JSON.stringify(got)})`).toBe(true));
      }
      expect(run.result.outcome).toBe((c.findings ?? []).includes('kernel-bug') ? 'aborted' : 'completed');
      c.check?.(run);
    });
  }
});
