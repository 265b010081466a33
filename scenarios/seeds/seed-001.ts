import type { DriverAction } from '../../protocol/driver-actions.ts';
import type { Topology } from '../../protocol/topology.ts';
import { findProfile } from '../../hardware/profiles.ts';
import { svaPage, userPage } from '../../hardware/memory.ts';
import { UNIT_AXIS, scenarioFromDocument } from '../format/document.ts';
import type { Scenario } from '../scenario.ts';
import { documentTopology } from './machine.ts';

/**
 * Seed 001 (2022, "iommu/sva: Refactoring iommu_sva_bind/unbind_device()"):
 * a driver attaches paging domain d1 to its RID, binds an SVA domain d2 on
 * a PASID, then detaches d1. Does the detach (a) disable only the RID's
 * translation, (b) disable everything, or (c) fail? The thread settles on
 * (a) as the API's meaning; docs/kernel-facts.md §5.3 records what each
 * driver does. Jason's follow-up puts SMMU's check in the ownership code:
 * releasing DMA ownership with PASIDs attached is a WARN.
 *
 * The release scenario stays a TS scenario: its `release` axis chooses the
 * driver's action list, which a document's axes (model axes and `unit`)
 * cannot express; `show` prints its programs.
 */

/** The `unit` axis's values: hardware profiles (hardware/profiles.ts). */
export const UNITS = ['vtd@7.0', 'smmu-v3@7.0', 'smmu-v3@5.10', 'amd-vi@7.0'] as const;

export const UNIT = 'iommu0';
export const MM = 'mm1';
/** The first mm to bind gets PASID 1 from the global IDA (iommu-sva.c iommu_alloc_mm_data). */
export const SVA_PASID = 1;
export const RID_IOVA = 0x1000;
export const PASID_IOVA = 0x5000;
/** Where the PASID's DMA lands while the bond translates. */
export const SVA_TARGET = svaPage(MM, PASID_IOVA);

/** A PASID/ATS-capable NIC on the root bus: a group of its own. */
export const NIC = '0000:00:02.0';

/**
 * The unit and the NIC, the driver "nic" bound to it at boot unless
 * `nicDriver` is false. Nothing else: every device more is boot work in
 * every schedule.
 */
export function seed001Machine(unit: string, nicDriver = true): Topology {
  const p = findProfile(unit);
  if (p === null) throw new Error(`seed-001: unknown unit profile "${unit}"`);
  return {
    units: [{ name: UNIT, kind: p.kind, ...(p.version !== null ? { version: p.version } : {}), max_pasids: 1 << 20 }],
    pci: [{ bdf: NIC, unit: UNIT, ats: true, pasid_bits: 20, ...(nicDriver ? { driver: 'nic' } : {}) }],
    drivers: [{ name: 'nic', bus: 'pci' }],
    mms: [MM],
  };
}

/** The thread's sequence, run by the NIC driver (a work item): d1 on the RID, an SVA bond on a PASID, detach d1, DMA on both. */
export const RID_DETACH: readonly DriverAction[] = [
  // IOMMU_HWPT_ALLOC_PASID: AMD builds its GCR3 (PASID) table only for such a domain
  { do: 'iommu_paging_domain_alloc', flags: ['pasid'], as: 'd1' },
  { do: 'iommu_map', domain: 'd1', iova: RID_IOVA, page: `${NIC}-d1` },
  { do: 'iommu_attach_device', domain: 'd1' },
  { do: 'iommu_sva_bind_device', mm: MM, as: 'd2' },
  { do: 'dma', iova: PASID_IOVA, pasid: SVA_PASID },
  { do: 'iommu_detach_device', domain: 'd1' },
  { do: 'dma', iova: RID_IOVA },
  { do: 'dma', iova: PASID_IOVA, pasid: SVA_PASID },
  { do: 'iommu_sva_unbind_device', handle: 'd2' },
];

/**
 * (a), (b) or (c) by unit, written as a scenario document: the `unit` axis
 * replaces the kind and version of the machine's only unit
 * (scenarios/format/document.ts; not a model axis of protocol/variants.ts),
 * and the PASID contract checker reports a PASID the unit stops translating.
 */
export const SEED001_DOCUMENT = {
  name: 'seed-001-rid-detach-keeps-pasid',
  title: 'attach RID d1, bind SVA d2 on a PASID, detach d1: does the PASID keep translating?',
  topology: documentTopology(seed001Machine(UNITS[0])),
  variants: { [UNIT_AXIS]: UNITS },
  tasks: [{ name: 'driver', ops: [{ op: 'driver.call', dev: NIC, actions: RID_DETACH }] }],
  checkers: { pasid_contract: true },
  expect: [
    // (a): the RID goes back to the default domain, the PASID keeps translating
    { when: { [UNIT_AXIS]: 'vtd@7.0' }, findings: [] },
    { when: { [UNIT_AXIS]: 'smmu-v3@7.0' }, findings: [] },
    // (c): the driver refuses (-EBUSY, "cannot attach - SVA enabled") and the PASID keeps translating, but
    // iommu_detach_device() cannot fail: the core WARNs (5.10 __iommu_detach_group(): WARN_ON(1) when
    // re-attaching the default domain fails; 7.0 __iommu_group_set_domain_nofail()), so not clean
    { when: { [UNIT_AXIS]: 'smmu-v3@5.10' }, findings: ['kernel-warn'] },
    // (b): detach_device() destroys the GCR3 table while pasid_array still lists the PASID
    { when: { [UNIT_AXIS]: 'amd-vi@7.0' }, findings: ['api-nonconformance'] },
  ],
};

export const seed001RidDetachKeepsPasid: Scenario = scenarioFromDocument(SEED001_DOCUMENT, 'scenarios/seeds/seed-001.ts');

/** The scenario-level axis of the release scenario: whether the PASID is still attached when ownership is released. */
export const RELEASE_AXIS = 'release';
export const RELEASES = ['with-pasid-attached', 'after-pasid-detach'] as const;

/**
 * A kernel DMA owner (iommufd, as VFIO's cdev path calls it) of the NIC's
 * group: claim, a PASID-capable domain on the RID, a paging domain on PASID
 * 1, DMA on it, then release — with the PASID still attached, or after
 * detaching it. The second claim by another owner shows whether the group
 * is still owned.
 */
export function releaseOwner(release: string): readonly DriverAction[] {
  const detachFirst = release === 'after-pasid-detach';
  return [
    { do: 'iommu_device_claim_dma_owner', dev: NIC, owner: 'iommufd' },
    { do: 'iommu_paging_domain_alloc', dev: NIC, flags: ['pasid'], as: 'd1' },
    { do: 'iommu_attach_device', dev: NIC, domain: 'd1' },
    { do: 'iommu_paging_domain_alloc', dev: NIC, flags: ['pasid'], as: 'd2' },
    // the owner's memory: a user-owned group's device must reach only user pages
    { do: 'iommu_map', dev: NIC, domain: 'd2', iova: PASID_IOVA, page: userPage('iommufd', 'pasid') },
    { do: 'iommu_attach_device_pasid', dev: NIC, domain: 'd2', pasid: SVA_PASID },
    { do: 'dma', dev: NIC, iova: PASID_IOVA, pasid: SVA_PASID },
    ...(detachFirst ? [{ do: 'iommu_detach_device_pasid', dev: NIC, domain: 'd2', pasid: SVA_PASID } as const] : []),
    { do: 'iommu_detach_device', dev: NIC, domain: 'd1' },
    { do: 'iommu_device_release_dma_owner', dev: NIC },
    { do: 'iommu_device_claim_dma_owner', dev: NIC, owner: 'another-owner' },
  ];
}

/**
 * Written as a scenario document: the scenario's own axis `release` chooses
 * the owner's action list (task ops with `when`); the PASID contract checker
 * reports a PASID the unit stops translating.
 */
export const SEED001B_DOCUMENT = {
  name: 'seed-001-release-owner-with-pasid',
  title: 'releasing DMA ownership while a PASID is still attached',
  topology: documentTopology(seed001Machine('vtd@7.0', false)),
  variants: { [RELEASE_AXIS]: RELEASES },
  tasks: [{
    name: 'owner',
    ops: RELEASES.map((release) => ({ op: 'module.call', module: 'iommufd', actions: releaseOwner(release), when: { [RELEASE_AXIS]: release } })),
  }],
  checkers: { pasid_contract: true },
  expect: [
    { when: { [RELEASE_AXIS]: 'with-pasid-attached' }, findings: ['kernel-warn'] },
    { when: { [RELEASE_AXIS]: 'after-pasid-detach' }, findings: [] },
  ],
};

export const seed001ReleaseOwnerWithPasid: Scenario = scenarioFromDocument(SEED001B_DOCUMENT, 'scenarios/seeds/seed-001.ts');
