/**
 * Kernel client code as data: what a driver's probe or remove, a driver's
 * work item, or a module's init does, as a list of kernel calls. The
 * driver-core actor executes them in the calling task
 * (actors/driver-core/driver-ops.ts), so they run with the locks that task
 * holds (a probe runs under device_lock) and their stacks read like the
 * kernel's.
 *
 * Results are named: `as: "d1"` keeps a call's result (a domain, a group, an
 * SVA handle, an IOVA) under that name, and later actions refer to it
 * (`domain: "d1"`). Names live with the driver's device (its drvdata) for
 * driver actions, with the module for module actions.
 *
 * `dev` defaults to the driver's own device. In a probe or remove the first
 * action that returns an errno fails the whole list with that errno unless
 * it says `ignore: true`; elsewhere every action runs and each result is
 * reported.
 */
export type DriverAction = ActionCommon & (
  | { readonly do: 'iommu_paging_domain_alloc'; readonly as: string; readonly flags?: readonly 'pasid'[] }
  /** The bus API of seed 004: iommu_domain_alloc(bus); behaviour chosen by the `domain-alloc` variant. */
  | { readonly do: 'iommu_domain_alloc'; readonly bus: 'pci' | 'platform'; readonly as: string }
  | { readonly do: 'iommu_domain_free'; readonly domain: string }
  | { readonly do: 'iommu_attach_device'; readonly domain: string }
  | { readonly do: 'iommu_detach_device'; readonly domain: string }
  /** Seed 002's proposal; behaviour chosen by the `shared-attach` variant. */
  | { readonly do: 'iommu_attach_device_shared'; readonly domain: string }
  | { readonly do: 'iommu_detach_device_shared'; readonly domain: string }
  | { readonly do: 'iommu_group_get'; readonly as: string }
  | { readonly do: 'iommu_group_put'; readonly group: string }
  | { readonly do: 'iommu_attach_group'; readonly domain: string; readonly group: string }
  | { readonly do: 'iommu_detach_group'; readonly domain: string; readonly group: string }
  | { readonly do: 'iommu_group_claim_dma_owner'; readonly group: string; readonly owner: string }
  | { readonly do: 'iommu_group_release_dma_owner'; readonly group: string }
  | { readonly do: 'iommu_device_claim_dma_owner'; readonly owner: string }
  | { readonly do: 'iommu_device_release_dma_owner' }
  /**
   * `handle`: the struct iommu_attach_handle iommufd passes (named; the
   * pasid_array entry is the tagged handle). Omitted on attach: a bare domain
   * entry. Omitted on replace: a new handle, as iommufd allocates one per replace.
   */
  | { readonly do: 'iommu_attach_device_pasid'; readonly domain: string; readonly pasid: number; readonly handle?: string }
  | { readonly do: 'iommu_replace_device_pasid'; readonly domain: string; readonly pasid: number; readonly handle?: string }
  | { readonly do: 'iommu_detach_device_pasid'; readonly domain: string; readonly pasid: number }
  | { readonly do: 'iommu_sva_bind_device'; readonly mm: string; readonly as: string }
  | { readonly do: 'iommu_sva_unbind_device'; readonly handle: string }
  | { readonly do: 'iommu_get_domain_for_dev'; readonly as?: string }
  /** Map a buffer into `domain` at `iova` (iommu_map); the page is named `page` (default: "<dev>-buf"). */
  | { readonly do: 'iommu_map'; readonly domain: string; readonly iova: number; readonly page?: string }
  | { readonly do: 'iommu_unmap'; readonly domain: string; readonly iova: number }
  /** The DMA API (dma_map_single through iommu-dma): deferred attach, IOVA allocation, map into the default domain. */
  | { readonly do: 'dma_map'; readonly as: string; readonly page?: string }
  | { readonly do: 'dma_unmap'; readonly iova: string }
  /** The device performs DMA at an IOVA (a number, or the name of a dma_map result), optionally tagged with a PASID. */
  | { readonly do: 'dma'; readonly iova: number | string; readonly pasid?: number; readonly write?: boolean }
  | { readonly do: 'pci_reset_function' }
  | { readonly do: 'pci_try_reset_function' }
  /** The caller holds device_lock (a probe does). */
  | { readonly do: 'pci_reset_function_locked' }
  /**
   * vfio-pci's probe and remove (drivers/vfio/pci/vfio_pci_core.c):
   * vfio_pci_core_register_device() → vfio_register_group_dev(), and
   * vfio_pci_core_unregister_device() → vfio_unregister_group_dev(), which
   * waits for userspace to close the device's last fd (protocol/vfio.ts).
   */
  | { readonly do: 'vfio_register_group_dev' }
  | { readonly do: 'vfio_unregister_group_dev' }
  /** An explicit preemption point between two calls. */
  | { readonly do: 'yield' }
);

export interface ActionCommon {
  /** The device the call is about; default: the driver's own device. */
  readonly dev?: string;
  /** In a probe/remove: an errno from this action does not fail the list. */
  readonly ignore?: boolean;
}

export type DriverActionName = DriverAction['do'];

/** One action's outcome, as a driver_call/module_call task returns them. */
export interface ActionResult {
  readonly do: DriverActionName;
  /** The value returned (a domain/group/handle id, an IOVA, 0) or an errno name ("EBUSY"). */
  readonly ret: unknown;
}
