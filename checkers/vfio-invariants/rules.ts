/**
 * The VFIO invariants (docs/kernel-facts.md §8.2 items 9 and 10), as pure
 * rules over the checker's shadow of the vfio actor's objects. Each has a
 * stable id: it is part of the finding's signature.
 *
 * The third VFIO-related invariant of the issue, "a user-owned group never
 * has a kernel-driver binding", is §8.2 item 3, which the invariants
 * checker already judges on the iommu_group (checkers/invariants:
 * 'user-owner-no-kernel-driver').
 */

export const VFIO_INVARIANT_IDS = ['group-fd-exclusive', 'open-holds-registration', 'unregister-releases'] as const;
export type VfioInvariantId = (typeof VFIO_INVARIANT_IDS)[number];

export const VFIO_INVARIANTS: Readonly<Record<VfioInvariantId, { readonly ref: string; readonly rule: string; readonly kernel: string }>> = {
  'group-fd-exclusive': {
    ref: '§8.2 item 9',
    rule: 'vfio_group: opened_file != NULL ⇒ cdev_device_open_cnt == 0, and the other way round',
    kernel: 'vfio_group_fops_open() -EBUSY with cdev users; vfio_device_block_group() -EBUSY with the group fd open; both under group_lock',
  },
  'open-holds-registration': {
    ref: '§8.2 item 9',
    rule: 'vfio_device: open_count > 0 ⇒ a registration reference is held (refcount > 0)',
    kernel: 'every device fd takes vfio_device_try_get_registration() before vfio_df_open() and puts it after vfio_df_close()',
  },
  'unregister-releases': {
    ref: '§8.2 item 10',
    rule: 'after vfio_unregister_group_dev() returns: no fd reaches the device (no device file, open_count == 0, refcount == 0) and its DMA ownership claim is released',
    kernel: 'vfio_unregister_group_dev() waits on device->comp; the last close unbinds iommufd (iommu_device_release_dma_owner); vfio_device_remove_group() detaches the container (iommu_group_release_dma_owner)',
  },
};

/** A field value as a report prints it. */
export function show(v: unknown): string {
  if (v === null || v === undefined) return '(null)';
  return typeof v === 'string' ? v : JSON.stringify(v);
}
