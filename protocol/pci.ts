/**
 * The pci actor's mailbox (drivers/pci/): the hierarchy, hot-add and
 * removal, resets, and the PCI bus hooks the driver core calls. Replies:
 * `Ret` = 0 or an Errno value.
 */
export type PciMailbox =
  /** Boot enumeration: pci_device_add() + device_add() for every present device, parents first. */
  | { readonly op: 'pci_scan_root_bus'; readonly body: null }
  /** sysfs rescan of a `hotplug` device's parent: pci_rescan_remove_lock → device_add. Ret. */
  | { readonly op: 'pci_rescan_bus'; readonly body: { readonly dev: string } }
  /** sysfs remove: pci_stop_and_remove_bus_device_locked(): pci_rescan_remove_lock → the subtree, children first. Ret. */
  | { readonly op: 'pci_stop_and_remove_bus_device_locked'; readonly body: { readonly dev: string } }
  /** pciehp: slot disabled by a button or a surprise link down (then the subtree is marked disconnected first). Ret. */
  | { readonly op: 'pciehp_disable_slot'; readonly body: { readonly slot: string; readonly surprise: boolean } }
  /** pciehp hot-add (presence/link up on `slot`): pciehp_configure_device() with reset_lock dropped around driver binding. Ret. */
  | { readonly op: 'pciehp_enable_slot'; readonly body: { readonly slot: string } }
  /** pci_reset_function(): pci_dev_lock of the bridge then the device, then the reset methods. Ret. */
  | { readonly op: 'pci_reset_function'; readonly body: { readonly dev: string } }
  /** pci_try_reset_function(): pci_dev_trylock, -EAGAIN on contention. Ret. */
  | { readonly op: 'pci_try_reset_function'; readonly body: { readonly dev: string } }
  /** pci_reset_bus(): slot or secondary bus reset with every device below trylocked (VFIO hot reset); -EAGAIN on contention. Ret. */
  | { readonly op: 'pci_reset_bus'; readonly body: { readonly dev: string } }
  /** A write of `num_vfs` to the PF's sriov_numvfs (sriov_numvfs_store): enable or disable its VFs through the PF driver. Ret. */
  | { readonly op: 'sriov_numvfs_store'; readonly body: { readonly dev: string; readonly num_vfs: number } }
  /** pci_reset_function_locked(): the caller holds device_lock. Ret. */
  | { readonly op: 'pci_reset_function_locked'; readonly body: { readonly dev: string } }
  /** The devices that must share `dev`'s iommu group (pci_device_group's rules over the static topology). */
  | { readonly op: 'pci_device_group'; readonly body: { readonly dev: string } }
  /** bus->dma_configure for PCI (pci_dma_configure): reads dev->driver once, then iommu_device_use_default_domain unless driver_managed_dma. Ret. */
  | { readonly op: 'pci_dma_configure'; readonly body: { readonly dev: string } }
  /** bus->dma_cleanup for PCI (pci_dma_cleanup). */
  | { readonly op: 'pci_dma_cleanup'; readonly body: { readonly dev: string } }
  /** pci_dev_is_disconnected(). */
  | { readonly op: 'pci_dev_is_disconnected'; readonly body: { readonly dev: string } };

/** pci_device_group's reply: the group's member candidates in topology order (includes `dev`). */
export interface PciGroupPeers {
  readonly peers: readonly string[];
}
