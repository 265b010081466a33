import type { Finding, FindingKind } from '../protocol/findings.ts';

/**
 * Findings the 7.0 model reports that are genuine upstream issues, not model
 * bugs (docs/vfio.md "Observations", docs/kernel-model.md "Flows"). A stress
 * or fuzz campaign pinned to the fixed variants may hit them on any machine
 * it generates; they are counted as known, and not written as new findings.
 * Do not add an entry to silence a model bug: each one names the upstream
 * evidence.
 *
 * An entry matches a finding of its kind whose signature matches one of its
 * patterns: the signature itself ("<kind>|<classes or fields>|<sites>",
 * stable across runs and machines), where `*` stands for any text.
 */
export interface KnownIssue {
  readonly id: string;
  readonly kind: FindingKind;
  readonly signatures: readonly string[];
  readonly reason: string;
  readonly reference: string;
}

export const KNOWN_ISSUES: readonly KnownIssue[] = [
  {
    id: 'pciehp-reset-lock-inversion',
    kind: 'lock-order-inversion',
    signatures: ['lock-order-inversion|*ctrl->reset_lock*'],
    reason: 'pciehp surprise removal retakes reset_lock under pci_rescan_remove_lock since f5eff5591b8f; the sysfs remove path does not',
    reference: 'f5eff5591b8f; LKML report against 6.14; docs/kernel-model.md "Flows"',
  },
  {
    id: 'vfio-container-iommu-driver-race',
    kind: 'data-race',
    // container->iommu_driver and ->iommu_data, read by VFIO_IOMMU_MAP_DMA / UNMAP_DMA
    signatures: ['data-race|vfio_container.iommu*|vfio.VFIO_IOMMU_*'],
    reason: 'the container ioctl path reads container->iommu_driver without container->group_lock; removing (or unbinding) the last device of a still-open group detaches it concurrently with MAP_DMA',
    reference: 'drivers/vfio/container.c vfio_fops_unl_ioctl; docs/vfio.md "Observations"',
  },
  {
    id: 'vfio-container-iommu-driver-race-uaf',
    kind: 'use-after-free',
    signatures: ['use-after-free|vfio_iommu|*|vfio.VFIO_IOMMU_*'],
    reason: 'the same race, later: the type1 backend the ioctl read is released by the detach while the ioctl still uses it',
    reference: 'docs/vfio.md "Observations" ("the backend it read may be freed")',
  },
  {
    id: 'vfio-container-iommu-driver-race-lock-freed',
    kind: 'lock-misuse',
    signatures: ['lock-misuse|held-lock-freed|vfio_iommu->lock|*'],
    reason: 'the same race seen by lockdep: the backend is freed while the ioctl holds its lock',
    reference: 'docs/vfio.md "Observations"',
  },
  {
    id: 'vfio-container-close-during-flr',
    kind: 'kernel-warn',
    // any nofail domain switch refused during a reset: type1 detach at container close, or giving device ownership back
    signatures: ['kernel-warn|*|__iommu_group_set_domain_nofail*'],
    reason: '7.0 refuses even the nofail detach while a group member resets: closing a container (or giving back DMA ownership) during a sysfs FLR WARNs',
    reference: 'drivers/iommu/iommu.c (reset blocks domain changes, §3.3); docs/vfio.md "Observations"',
  },
  {
    id: 'vfio-container-close-during-flr-uaf',
    kind: 'use-after-free',
    signatures: [],
    reason: 'after the refused detach above, type1 frees the domain the group still uses and the later ownership release attaches from it',
    reference: 'docs/vfio.md "Observations"; conformance case 3 of §7.3',
  },
];

const glob = (pattern: string): RegExp => new RegExp(`^${pattern.split('*').map((p) => p.replace(/[.+?^${}()|[\]\\]/g, '\\$&')).join('.*')}$`);
const PATTERNS: ReadonlyMap<KnownIssue, readonly RegExp[]> = new Map(KNOWN_ISSUES.map((k) => [k, k.signatures.map(glob)]));

/** The known issue a finding is, or null when it is new. */
export function knownIssue(f: Finding): KnownIssue | null {
  for (const [k, res] of PATTERNS) if (k.kind === f.kind && res.some((re) => re.test(f.signature))) return k;
  return null;
}

/**
 * The fixed value of every variant axis: the code that landed or the fix the
 * seed discussion converged on (protocol/variants.ts; each seed scenario
 * expects no finding there). MODEL_DEFAULTS is 7.0.0 as released, which
 * still has seed 003's reset and dev->iommu bugs; a campaign "pinned to the
 * fixed variants" runs these.
 */
export const FIXED_VARIANTS: Readonly<Record<string, string>> = {
  'dma-owner': 'owner-cnt',
  'shared-attach': 'singleton-only',
  'domain-alloc': 'ops-only',
  'group-domain-alloc': 'locked',
  'deferred-attach': 'locked',
  'reset-blocking': 'rmr-paging',
  'reset-nesting': 'depth-counter',
  'dev-iommu-bits': 'separate-bools',
};
