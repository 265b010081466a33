import type { Call } from './kernel.ts';

/**
 * The iommu-core actor's mailbox (drivers/iommu/iommu.c, iommu-sva.c,
 * dma-iommu.c): the kernel API of docs/kernel-facts.md §3 under its kernel
 * names. Devices are named by device name, groups and domains by the object
 * ids iommu-core gave them. Replies: `Ret` = 0 or an Errno value; calls that
 * return an object return its id or an Errno (ERR_PTR), or null where the
 * kernel returns NULL.
 */
type Dev = { readonly dev: string };
type DomainDev = { readonly domain: string; readonly dev: string };
type DomainGroup = { readonly domain: string; readonly group: string };
type Pasid = { readonly domain: string; readonly dev: string; readonly pasid: number; readonly handle?: string };

export type IommuCoreMailbox =
  /** The bus notifier: ADD_DEVICE → iommu_probe_device, REMOVED_DEVICE → iommu_release_device, BOUND_DRIVER → group notifier. */
  | { readonly op: 'iommu_bus_notifier'; readonly body: { readonly action: BusNotifyAction; readonly dev: string } }
  | { readonly op: 'iommu_probe_device'; readonly body: Dev }
  /** of_iommu_configure() from a bus dma_configure (SMMUv3 devices): the fwspec under the probe lock; the probe replay when dev->iommu did not exist. Ret (-ENODEV: no firmware-described IOMMU). */
  | { readonly op: 'of_iommu_configure'; readonly body: Dev }
  | { readonly op: 'iommu_release_device'; readonly body: Dev }
  /**
   * iommu_device_register() of a unit absent at boot (actors/iommu-core/register.ts):
   * bus_iommu_probe() of every bus, both phases. Ret (-EEXIST: already registered).
   */
  | { readonly op: 'iommu_device_register'; readonly body: { readonly unit: string } }
  /** iommu_device_unregister(): iommu_release_device() of each of the unit's devices. Ret (-ENODEV: not registered). */
  | { readonly op: 'iommu_device_unregister'; readonly body: { readonly unit: string } }
  /** bus_iommu_probe()'s bus_for_each_dev callback: __iommu_probe_device under the probe lock, the group queued on walk `walk`. */
  | { readonly op: 'probe_iommu_group'; readonly body: Dev & { readonly walk: string } }
  /** iommu_device_unregister()'s bus_for_each_dev callback. */
  | { readonly op: 'remove_iommu_group'; readonly body: Dev & { readonly unit: string } }
  /** Returns the group id with a reference taken, or null. */
  | { readonly op: 'iommu_group_get'; readonly body: Dev }
  /** The last put drains the group's sysfs attribute nodes (kobject_del → kernfs_remove) before iommu_group_release. Ret 0. */
  | { readonly op: 'iommu_group_put'; readonly body: { readonly group: string } }
  /** The path walk through a device's iommu_group link: { group, key } of the group's sysfs directory, or null. */
  | { readonly op: 'iommu_group_sysfs_lookup'; readonly body: Dev }
  /** Domain id or Errno. */
  | { readonly op: 'iommu_paging_domain_alloc'; readonly body: Dev & { readonly flags?: readonly 'pasid'[] } }
  /** Seed 004's bus API; domain id or null. Variant `domain-alloc`. */
  | { readonly op: 'iommu_domain_alloc'; readonly body: { readonly bus: 'pci' | 'platform' } }
  /**
   * The bus_for_each_dev callback of iommu_domain_alloc(bus)
   * (__iommu_domain_alloc_dev), run while the walk holds a reference to
   * `dev`. What it hands back out of the walk is the `domain-alloc` variant:
   * the unit (ops), the device pointer, or a group reference.
   */
  | { readonly op: '__iommu_domain_alloc_dev'; readonly body: Dev & { readonly want: 'ops' | 'dev' | 'group' } }
  | { readonly op: 'iommu_domain_free'; readonly body: { readonly domain: string } }
  | { readonly op: 'iommu_attach_device'; readonly body: DomainDev }
  | { readonly op: 'iommu_detach_device'; readonly body: DomainDev }
  /** Seed 002's proposal. Variant `shared-attach`. */
  | { readonly op: 'iommu_attach_device_shared'; readonly body: DomainDev }
  | { readonly op: 'iommu_detach_device_shared'; readonly body: DomainDev }
  | { readonly op: 'iommu_attach_group'; readonly body: DomainGroup }
  | { readonly op: 'iommu_detach_group'; readonly body: DomainGroup }
  | { readonly op: 'iommu_get_domain_for_dev'; readonly body: Dev }
  /**
   * iommufd's RID attachment with an attach handle in pasid_array[IOMMU_NO_PASID]
   * (actors/iommu-core/handle.ts). Ret: attach -EBUSY when the slot is taken;
   * replace switches directly, without passing through the blocking domain.
   */
  | { readonly op: 'iommu_attach_group_handle'; readonly body: DomainGroup }
  | { readonly op: 'iommu_detach_group_handle'; readonly body: DomainGroup }
  | { readonly op: 'iommu_replace_group_handle'; readonly body: DomainGroup }
  /**
   * iommu_group_for_each_dev(): `fn` with `{ ...fn.body, dev }` for every
   * member, under group->mutex; the first result that is not 0 (or null),
   * else 0. VFIO type1 allocates its domain this way.
   */
  | { readonly op: 'iommu_group_for_each_dev'; readonly body: { readonly group: string; readonly fn: Call } }
  /**
   * From the bus dma_configure hooks in really_probe() (drivers without
   * driver_managed_dma). Variant `dma-owner`: `owner-cnt` counts (5.19+);
   * `viable-scan-unlocked` records a kernel DMA hint (seed 000 RFC);
   * `notifier-bug-on` does nothing (before 5.19). Ret.
   */
  | { readonly op: 'iommu_device_use_default_domain'; readonly body: Dev }
  | { readonly op: 'iommu_device_unuse_default_domain'; readonly body: Dev }
  | { readonly op: 'iommu_group_claim_dma_owner'; readonly body: { readonly group: string; readonly owner: string } }
  | { readonly op: 'iommu_group_release_dma_owner'; readonly body: { readonly group: string } }
  | { readonly op: 'iommu_group_dma_owner_claimed'; readonly body: { readonly group: string } }
  | { readonly op: 'iommu_device_claim_dma_owner'; readonly body: Dev & { readonly owner: string } }
  | { readonly op: 'iommu_device_release_dma_owner'; readonly body: Dev }
  | { readonly op: 'iommu_attach_device_pasid'; readonly body: Pasid }
  | { readonly op: 'iommu_replace_device_pasid'; readonly body: Pasid }
  | { readonly op: 'iommu_detach_device_pasid'; readonly body: Pasid }
  /** SVA handle id or Errno. */
  | { readonly op: 'iommu_sva_bind_device'; readonly body: Dev & { readonly mm: string } }
  | { readonly op: 'iommu_sva_unbind_device'; readonly body: { readonly handle: string } }
  /** Called from the DMA API paths. Ret. Variant `deferred-attach`. */
  | { readonly op: 'iommu_deferred_attach'; readonly body: DomainDev }
  | { readonly op: 'pci_dev_reset_iommu_prepare'; readonly body: Dev }
  | { readonly op: 'pci_dev_reset_iommu_done'; readonly body: Dev }
  /** sysfs /sys/kernel/iommu_groups/N/type read: "DMA\n", "identity\n", ... or Errno. */
  | { readonly op: 'iommu_group_show_type'; readonly body: { readonly group: string } }
  /** sysfs /sys/kernel/iommu_groups/N/type. Ret. */
  | { readonly op: 'iommu_group_store_type'; readonly body: { readonly group: string; readonly type: 'DMA' | 'DMA-FQ' | 'identity'; readonly capable?: boolean } }
  /** iommu_map()/iommu_unmap() into a paging domain. Ret. */
  | { readonly op: 'iommu_map'; readonly body: { readonly domain: string; readonly iova: number; readonly page: string } }
  | { readonly op: 'iommu_unmap'; readonly body: { readonly domain: string; readonly iova: number } }
  /** The DMA API through iommu-dma (iommu_dma_map_page): deferred attach, IOVA allocation, map. IOVA or Errno. */
  | { readonly op: 'iommu_dma_map'; readonly body: Dev & { readonly page: string } }
  /** The DMA API entry (dma_map_page_attrs): iommu-dma if dev->dma_iommu at the time of the call, else dma-direct. Bus address or Errno. */
  | { readonly op: 'dma_map_page_attrs'; readonly body: Dev & { readonly page: string } }
  | { readonly op: 'dma_unmap_page_attrs'; readonly body: Dev & { readonly iova: number } }
  | { readonly op: 'iommu_dma_unmap'; readonly body: Dev & { readonly iova: number } };

export type BusNotifyAction = 'ADD_DEVICE' | 'DEL_DEVICE' | 'REMOVED_DEVICE' | 'BIND_DRIVER' | 'BOUND_DRIVER' | 'UNBIND_DRIVER' | 'UNBOUND_DRIVER' | 'DRIVER_NOT_BOUND';

/** Domain types (include/linux/iommu.h IOMMU_DOMAIN_*). */
export type DomainType = 'blocked' | 'identity' | 'dma' | 'dma-fq' | 'paging' | 'sva';
