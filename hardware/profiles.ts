import type { UnitKind, UnitSpec } from '../protocol/topology.ts';

/**
 * Version profiles: what one IOMMU driver, at one kernel version, does where
 * the drivers differ (docs/kernel-facts.md §5, and §5.3 for seed 001's
 * question). A unit instance picks its profile from UnitSpec.kind and
 * UnitSpec.version; the vendor models (vtd.ts, amd-vi.ts, smmu-v3.ts,
 * mock.ts) branch on the profile, never on a version string.
 */
export interface UnitProfile {
  /** "vtd@7.0", "smmu-v3@5.10", "mock": what `conformance --unit` takes. */
  readonly id: string;
  readonly kind: UnitKind;
  readonly version: string | null;
  /** Where the driver lives in the kernel tree. */
  readonly driver: string;
  /**
   * What a RID domain change does to PASIDs attached to the device (seed
   * 001, §5.3): keep them (a), drop them silently (b), refuse the RID change
   * with -EBUSY (c).
   */
  readonly ridChangeWithPasids: 'keep' | 'drop' | 'refuse';
  /** set_dev_pasid for paging domains (iommufd PASID attach), not only SVA. */
  readonly pagingPasid: boolean;
  /** ops->domain_alloc_sva. */
  readonly sva: boolean;
  /** A static identity domain (ops->identity_domain). */
  readonly identity: boolean;
  /**
   * SMMUv3: the stage of a paging domain allocated without
   * IOMMU_HWPT_ALLOC_PASID. The 7.0 driver picks S1 whenever the SMMU has
   * it; 's2' models the S2 domains iommufd allocates as nesting parents
   * (IOMMU_HWPT_ALLOC_NEST_PARENT), so the S2 rules can be exercised.
   */
  readonly plainPagingStage: 's1' | 's2';
  /** How a RID attach replaces the old translation (§5.1 "RID attach style"). */
  readonly attachStyle: 'break-before-make' | 'detach-then-attach' | 'make-before-break' | 'in-place';
  /** IOTLB and per-device ATC (device-TLB) capacity, in entries; the oldest entry is evicted first. */
  readonly iotlbEntries: number;
  readonly devtlbEntries: number;
  /**
   * B18 (4fc82cd907ac): no device-TLB invalidation is sent to a device
   * pci_dev_is_disconnected() says is gone. Every profile here has the fix.
   */
  readonly skipsAtsInvalidationWhenDisconnected: boolean;
}

const BASE = {
  identity: true, plainPagingStage: 's1', sva: true, pagingPasid: true,
  iotlbEntries: 64, devtlbEntries: 16, skipsAtsInvalidationWhenDisconnected: true,
} as const;

/** The profiles the model implements, in `conformance --all` order. */
export const PROFILES: readonly UnitProfile[] = [
  {
    ...BASE, id: 'smmu-v3@5.10', kind: 'smmu-v3', version: '5.10', driver: 'drivers/iommu/arm/arm-smmu-v3/',
    // arm_smmu_attach_dev(): "cannot attach - SVA enabled" (-EBUSY); no set_dev_pasid for paging domains before the 2024 PASID rework
    ridChangeWithPasids: 'refuse', pagingPasid: false, attachStyle: 'make-before-break',
  },
  {
    ...BASE, id: 'smmu-v3@7.0', kind: 'smmu-v3', version: '7.0', driver: 'drivers/iommu/arm/arm-smmu-v3/',
    ridChangeWithPasids: 'keep', attachStyle: 'make-before-break',
  },
  {
    ...BASE, id: 'vtd@7.0', kind: 'vtd', version: '7.0', driver: 'drivers/iommu/intel/',
    ridChangeWithPasids: 'keep', attachStyle: 'break-before-make',
  },
  {
    ...BASE, id: 'amd-vi@7.0', kind: 'amd-vi', version: '7.0', driver: 'drivers/iommu/amd/',
    // detach_device() destroys the GCR3 table; no set_dev_pasid for paging domains
    ridChangeWithPasids: 'drop', pagingPasid: false, attachStyle: 'detach-then-attach',
  },
  {
    ...BASE, id: 'mock', kind: 'mock', version: null, driver: 'drivers/iommu/iommufd/selftest.c',
    // mock_ops: no identity domain, no domain_alloc_sva; attach and set_dev_pasid are nops
    ridChangeWithPasids: 'keep', sva: false, identity: false, attachStyle: 'in-place',
  },
];

/**
 * Not in `--all`: SMMUv3 7.0 whose plain paging domains are S2 (iommufd
 * nesting parents): a RID attach of an S2 domain while SSIDs are in use is
 * -EBUSY (arm_smmu_ssids_in_use), a PASID under an S2 RID -EINVAL — seed
 * 001's (c) for S2. Reachable as `smmu-v3@7.0-s2`.
 */
export const EXTRA_PROFILES: readonly UnitProfile[] = [
  { ...BASE, id: 'smmu-v3@7.0-s2', kind: 'smmu-v3', version: '7.0-s2', driver: 'drivers/iommu/arm/arm-smmu-v3/', ridChangeWithPasids: 'keep', plainPagingStage: 's2', attachStyle: 'make-before-break' },
];

/** The version a unit without `version` runs. */
export const DEFAULT_VERSION = '7.0';

const ALL = [...PROFILES, ...EXTRA_PROFILES];

/** "kind@version" ("mock" has none). */
export const profileId = (kind: UnitKind, version: string | null): string => (kind === 'mock' ? 'mock' : `${kind}@${version ?? DEFAULT_VERSION}`);

/** The profile named "kind[@version]", or null. */
export function findProfile(id: string): UnitProfile | null {
  const at = id.indexOf('@');
  const kind = at < 0 ? id : id.slice(0, at);
  const version = at < 0 ? null : id.slice(at + 1);
  const want = kind === 'mock' ? 'mock' : `${kind}@${version ?? DEFAULT_VERSION}`;
  return ALL.find((p) => p.id === want) ?? null;
}

/** The profile of a unit of the topology; an unknown kind/version is a configuration error. */
export function profileOf(spec: UnitSpec): UnitProfile {
  const id = profileId(spec.kind, spec.version ?? null);
  const p = findProfile(id);
  if (p === null) throw new Error(`unit ${spec.name}: no hardware profile "${id}" (known: ${ALL.map((x) => x.id).join(', ')})`);
  return p;
}

/** Every profile id, for messages. */
export const profileIds = (): readonly string[] => ALL.map((p) => p.id);
