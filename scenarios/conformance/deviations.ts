/**
 * The documented behaviour of each driver version where it departs from the
 * core's contract (docs/kernel-facts.md §5.3, §8.3): a case whose verdict is
 * one of these deviations is reported as `deviation`, not `fail`. The ids
 * are the verdict ids the cases produce: seed 001's options "b" (PASIDs
 * silently dropped) and "c" (RID change refused), and "pasids-lost" (not
 * restored after a reset).
 */

export interface Documented {
  readonly id: string;
  readonly why: string;
}

const AMD_B: Documented = { id: 'b', why: 'AMD-Vi 7.0: detach_device() destroys the GCR3 table on every RID change, without looking for live PASIDs (kernel-facts §5.3)' };
const SMMU_C: Documented = { id: 'c', why: 'SMMUv3 5.10: arm_smmu_attach_dev() refuses any RID attach while SVA is enabled on the master: "cannot attach - SVA enabled" (kernel-facts §5.3)' };

export const DEVIATIONS: Readonly<Record<string, Readonly<Record<string, Documented>>>> = {
  'amd-vi@7.0': {
    'rid-attach-keeps-pasid': AMD_B,
    'rid-detach-keeps-pasid': AMD_B,
    'rid-block-keeps-pasid': AMD_B,
    'rid-identity-keeps-pasid': AMD_B,
    'reset-nesting': {
      id: 'pasids-lost',
      why: 'AMD-Vi 7.0 (as read, kernel-facts §8.3): prepare\'s blocking domain destroys the GCR3 table, and done cannot re-set an SVA PASID (iommu_sva_set_dev_pasid() refuses old != NULL)',
    },
  },
  'smmu-v3@5.10': {
    'rid-attach-keeps-pasid': SMMU_C,
    'rid-detach-keeps-pasid': SMMU_C,
    'rid-block-keeps-pasid': SMMU_C,
    'rid-identity-keeps-pasid': SMMU_C,
    'reset-nesting': { id: 'c', why: 'SMMUv3 5.10: the blocking domain prepare attaches is a RID attach, refused while SVA is enabled' },
  },
};

export function documented(profile: string, caseName: string): Documented | null {
  return DEVIATIONS[profile]?.[caseName] ?? null;
}
