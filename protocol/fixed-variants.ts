import type { ModelVariants, VariantAxis } from './variants.ts';

/**
 * The fixed value of every variant axis: the implementation each seed
 * discussion settled on, under which that seed's scenarios are clean
 * (test/kernel/variants.test.ts shows each one). `fuzz --fixed` pins every
 * axis to it, so whatever such a campaign reports is a question the seeds
 * did not answer.
 *
 * Mostly this is the 7.0.0 default (MODEL_DEFAULTS). Seed 003's three axes
 * differ: 7.0.0 shipped the code the thread then fixed (the nested-prepare
 * WARN, the RMR device parked on the blocking domain, the bit fields of one
 * word), so their fixed value is the follow-up, not the 7.0.0 default.
 */
export const FIXED_VARIANTS: ModelVariants = {
  'dma-owner': 'owner-cnt',
  'shared-attach': 'singleton-only',
  'domain-alloc': 'ops-only',
  'group-domain-alloc': 'locked',
  'deferred-attach': 'locked',
  'reset-blocking': 'rmr-paging',
  'reset-nesting': 'depth-counter',
  'dev-iommu-bits': 'separate-bools',
  'container-ioctl': 'unlocked-passthrough',
  'pciehp-unconfigure': 'reset-lock-held',
  'dma-configure-driver': 'read-once',
  'init-device-recheck': 'enodev',
  'kvm-ref': 'kvm-ref-lock',
};

/** Why each fixed value is the fixed one (shown by `fuzz --fixed` documentation and tests). */
export const FIXED_BECAUSE: Readonly<Record<VariantAxis, string>> = {
  'dma-owner': 'seed 000: owner_cnt (5.19+) refuses the claim or the bind up front',
  'shared-attach': 'seed 002: 7.0 attaches only singleton groups (-EINVAL otherwise)',
  'domain-alloc': 'seed 004: only the ops pointer leaves the bus walk (what landed)',
  'group-domain-alloc': 'seed 004: the first-device helper runs under group->mutex',
  'deferred-attach': 'seed 003 (a): 5d5388b0e190 takes group->mutex in iommu_deferred_attach()',
  'reset-blocking': 'seed 003 (b): a require_direct device keeps its RMR mapping across a reset',
  'reset-nesting': 'seed 003 (c): the stable fix counts nested prepares instead of WARNing',
  'dev-iommu-bits': 'seed 003 (d): separate bools written with WRITE_ONCE, no shared word',
  'container-ioctl': '7.0: no upstream fix yet (the lab\'s finding); what it shows is on the known list (vfio-container-iommu-driver-race)',
  'pciehp-unconfigure': '7.0: no upstream fix yet (the lab\'s finding); what it shows is on the known list (pciehp-reset-lock)',
  'dma-configure-driver': 'B5: 78447d4545b2 reads dev->driver once (READ_ONCE) in the bus dma_configure hook',
  'init-device-recheck': 'B6: 0c8e9c148e29 returns -ENODEV when another walker finished the probe during the dma_configure window',
  'kvm-ref': 'B13: 2b48f52f2bff protects group->kvm with kvm_ref_lock and takes a KVM reference at first open',
};
