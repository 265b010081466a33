/**
 * The design alternatives of the seed discussions, as variant axes of the
 * kernel model. Axis and value names are part of the public contract
 * (scenarios and `compare` name them). Each value is a small, named
 * implementation of the handlers it changes (actors/<actor>/variants/).
 *
 * MODEL_DEFAULTS is what the model runs when a program does not choose: the
 * code that landed (Linux 7.0.0), or its closest counterpart.
 */
export const VARIANT_AXES = {
  /** Seed 000: how VFIO learns that a sibling has a kernel driver. */
  'dma-owner': ['viable-scan-unlocked', 'notifier-bug-on', 'owner-cnt'],
  /** Seed 002: iommu_attach_device_shared() for multi-device groups. */
  'shared-attach': ['singleton-only', 'shared-owner-cnt', 'shared-ignores-owner'],
  /** Seed 004: iommu_domain_alloc(bus) after the switch to device ops. */
  'domain-alloc': ['v4-escaping-dev', 'reviewer-locked', 'ops-only'],
  /** Seed 004's missing annotation: the group's first-device helper and group->mutex. */
  'group-domain-alloc': ['unlocked', 'locked'],
  /** Seed 003: iommu_deferred_attach() and group->mutex. */
  'deferred-attach': ['unlocked', 'locked'],
  /** Seed 003: what a require_direct (RMR) device is attached to during a reset. */
  'reset-blocking': ['bypass-require-direct', 'rmr-paging'],
  /** Seed 003: nested pci_dev_reset_iommu_prepare(). */
  'reset-nesting': ['warn-ebusy', 'depth-counter'],
  /** Seed 003: the dev->iommu bit fields. */
  'dev-iommu-bits': ['shared-word', 'separate-bools'],
  /**
   * The lab's finding (scenarios/upstream/vfio-container-ioctl.ts): vfio_fops_unl_ioctl()
   * (drivers/vfio/container.c) passes unrecognised ioctls to the backend without
   * container->group_lock in 7.0; the candidate fix takes it for read around the passthrough.
   */
  'container-ioctl': ['unlocked-passthrough', 'group-lock-read'],
  /**
   * The lab's finding (scenarios/upstream/pciehp-three-party.ts): pciehp_unconfigure_device()
   * (drivers/pci/hotplug/pciehp_pci.c) takes pci_rescan_remove_lock with ctrl->reset_lock held
   * for read in 7.0; the candidate fix drops reset_lock before pci_lock_rescan_remove().
   */
  'pciehp-unconfigure': ['reset-lock-held', 'drop-reset-lock-first'],
  /**
   * B5 (78447d4545b2 "PCI: Fix driver_managed_dma check", and the platform
   * half): the bus dma_configure hook that iommu_init_device() calls without
   * device_lock reads dev->driver twice (to_pci_driver(dev->driver), then
   * `dev->driver &&`) before the fix, once (READ_ONCE) after it.
   */
  'dma-configure-driver': ['double-read', 'read-once'],
  /**
   * B6 (0c8e9c148e29 "iommu: Avoid introducing more races"): after retaking
   * iommu_probe_device_lock behind the dma_configure window,
   * iommu_init_device() returns -ENODEV if another walker finished the
   * probe (`enodev`, 7.0) or goes on initialising the device (`none`).
   */
  'init-device-recheck': ['none', 'enodev'],
  /**
   * Bug B13 (docs/kernel-facts.md §6): group->kvm under group->group_lock, set by
   * vfio_file_set_kvm() from the KVM VFIO device's release under kvm->lock and read
   * by the device open under group_lock (51cdc8bc120e, v6.2-rc), or the fix
   * 2b48f52f2bff: kvm_ref_lock and a KVM reference taken at first open.
   */
  'kvm-ref': ['group-lock', 'kvm-ref-lock'],
} as const;

export type VariantAxis = keyof typeof VARIANT_AXES;
export type VariantValue<A extends VariantAxis> = (typeof VARIANT_AXES)[A][number];

/** A full choice of every axis, as the kernel actors read it. */
export type ModelVariants = { readonly [A in VariantAxis]: VariantValue<A> };

export const MODEL_DEFAULTS: ModelVariants = {
  'dma-owner': 'owner-cnt',
  'shared-attach': 'singleton-only',
  'domain-alloc': 'ops-only',
  'group-domain-alloc': 'locked',
  'deferred-attach': 'locked',
  'reset-blocking': 'bypass-require-direct',
  'reset-nesting': 'warn-ebusy',
  'dev-iommu-bits': 'shared-word',
  'container-ioctl': 'unlocked-passthrough',
  'pciehp-unconfigure': 'reset-lock-held',
  'dma-configure-driver': 'read-once',
  'init-device-recheck': 'enodev',
  'kvm-ref': 'kvm-ref-lock',
};

export function isVariantAxis(s: string): s is VariantAxis {
  return Object.hasOwn(VARIANT_AXES, s);
}

/**
 * Completes a partial choice with the model defaults. Unknown axes or values
 * are an error naming them (scenario validation reports it with exit 2).
 */
export function resolveVariants(partial: Readonly<Record<string, string>> = {}): ModelVariants {
  const out: Record<string, string> = { ...MODEL_DEFAULTS };
  for (const [axis, value] of Object.entries(partial)) {
    if (!isVariantAxis(axis)) continue; // axes of other layers (a scenario's own, `unit`) pass through untouched
    const values: readonly string[] = VARIANT_AXES[axis];
    if (!values.includes(value)) throw new Error(`variant ${axis}: unknown value "${value}" (one of: ${values.join(', ')})`);
    out[axis] = value;
  }
  return out as ModelVariants;
}
