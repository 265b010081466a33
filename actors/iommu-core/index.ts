import { defineActor } from '../../runtime/actor.ts';
import { errno } from '../../protocol/errno.ts';
import type { IommuCoreMailbox } from '../../protocol/iommu-core.ts';
import { devIommuOf, initialState } from './state.ts';
import type { IK, IommuCoreState } from './state.ts';
import { kfunc } from '../../runtime/kfunc.ts';
import { allocDomain, freeDomain, useDomain } from './domains.ts';
import {
  groupOfDevice, iommu_attach_device, iommu_attach_group, iommu_detach_device, iommu_detach_group, iommu_get_domain_for_dev, withGroupMutex,
} from './attach.ts';
import { iommu_bus_notifier, iommu_group_get, iommu_group_put, iommu_group_sysfs_lookup, iommu_probe_device, iommu_release_device, of_iommu_configure } from './probe.ts';
import {
  iommu_device_claim_dma_owner, iommu_device_release_dma_owner, iommu_device_unuse_default_domain, iommu_device_use_default_domain,
  iommu_group_claim_dma_owner, iommu_group_dma_owner_claimed, iommu_group_release_dma_owner,
} from './owner.ts';
import { iommu_attach_device_pasid, iommu_detach_device_pasid, iommu_replace_device_pasid } from './pasid.ts';
import { iommu_sva_bind_device, iommu_sva_unbind_device } from './sva.ts';
import { iommu_deferred_attach, pci_dev_reset_iommu_done, pci_dev_reset_iommu_prepare } from './reset.ts';
import { iommu_device_register, iommu_device_unregister, probe_iommu_group, remove_iommu_group } from './register.ts';
import { dma_map_page_attrs, dma_unmap_page_attrs, iommu_dma_map, iommu_dma_unmap, iommu_map, iommu_unmap } from './dma.ts';
import { iommu_group_show_type, iommu_group_store_type } from './sysfs.ts';
import { iommu_attach_group_handle, iommu_detach_group_handle, iommu_group_for_each_dev, iommu_replace_group_handle } from './handle.ts';
import { DOMAIN_ALLOC, iommu_domain_alloc_dev } from './variants/domain-alloc.ts';
import { SHARED_ATTACH } from './variants/shared-attach.ts';

/**
 * The IOMMU core (drivers/iommu/iommu.c, iommu-sva.c, the core side of
 * dma-iommu.c) as one actor: it owns dev->iommu, every iommu_group and
 * iommu_domain, and serves the kernel API of docs/kernel-facts.md §3 under
 * the kernel's names. Hardware is reached through the unit actors
 * (protocol/iommu-unit.ts). The handlers live in one file per area.
 */
export const iommuCore = defineActor<IommuCoreState, IommuCoreMailbox>('iommu-core', {
  state: initialState,
  handlers: {
    iommu_bus_notifier,
    iommu_probe_device,
    of_iommu_configure,
    iommu_release_device,
    iommu_device_register,
    iommu_device_unregister,
    probe_iommu_group,
    remove_iommu_group,
    iommu_group_get,
    iommu_group_put,
    iommu_group_sysfs_lookup,
    /** iommu_paging_domain_alloc_flags() (6.11+): -ENODEV without an IOMMU; the caller must be dev's bound driver. */
    iommu_paging_domain_alloc: kfunc('iommu_paging_domain_alloc_flags', { actor: 'iommu-core', source: 'drivers/iommu/iommu.c: iommu_paging_domain_alloc_flags' }, async function iommuPagingDomainAllocFlags(k: IK, { dev, flags }: { readonly dev: string; readonly flags?: readonly 'pasid'[] }) {
      const di = devIommuOf(k, dev);
      if (di === null) return errno('ENODEV');
      return allocDomain(k, di.unit, 'paging', dev, { pasid: (flags ?? []).includes('pasid') });
    }),
    // iommu_domain_alloc(bus) (v6.x, removed in 6.13): seed 004's designs of it (variant domain-alloc)
    iommu_domain_alloc: kfunc('iommu_domain_alloc', { actor: 'iommu-core', source: 'drivers/iommu/iommu.c: iommu_domain_alloc' }, function iommuDomainAlloc(k: IK, { bus }: { readonly bus: 'pci' | 'platform' }) {
      return DOMAIN_ALLOC[k.state.variants['domain-alloc']](k, bus);
    }),
    __iommu_domain_alloc_dev: iommu_domain_alloc_dev,
    async iommu_domain_free(k, { domain }) {
      const d = useDomain(k, domain, 'iommu_domain_free');
      if (d !== null) await freeDomain(k, domain);
      return 0;
    },
    iommu_attach_device,
    iommu_detach_device,
    async iommu_attach_device_shared(k, { domain, dev }) {
      const g = groupOfDevice(k, dev);
      if (g === null) return errno('ENODEV');
      return withGroupMutex(k, g, () => SHARED_ATTACH[k.state.variants['shared-attach']].attach(k, g, domain));
    },
    async iommu_detach_device_shared(k, { domain, dev }) {
      const g = groupOfDevice(k, dev);
      if (g === null) return 0;
      return withGroupMutex(k, g, () => SHARED_ATTACH[k.state.variants['shared-attach']].detach(k, g, domain));
    },
    iommu_attach_group,
    iommu_detach_group,
    iommu_get_domain_for_dev,
    iommu_attach_group_handle,
    iommu_detach_group_handle,
    iommu_replace_group_handle,
    iommu_group_for_each_dev,
    iommu_device_use_default_domain,
    iommu_device_unuse_default_domain,
    iommu_group_claim_dma_owner,
    iommu_group_release_dma_owner,
    iommu_group_dma_owner_claimed,
    iommu_device_claim_dma_owner,
    iommu_device_release_dma_owner,
    iommu_attach_device_pasid,
    iommu_replace_device_pasid,
    iommu_detach_device_pasid,
    iommu_sva_bind_device,
    iommu_sva_unbind_device,
    iommu_deferred_attach,
    pci_dev_reset_iommu_prepare,
    pci_dev_reset_iommu_done,
    iommu_group_store_type,
    iommu_group_show_type,
    iommu_map,
    iommu_unmap,
    iommu_dma_map,
    iommu_dma_unmap,
    dma_map_page_attrs,
    dma_unmap_page_attrs,
  },
  inspect: (s) => ({
    groups: Object.values(s.groups).map((g) => ({ ...g })),
    devIommu: Object.values(s.devIommu).map((d) => ({ ...d })),
    devices: Object.values(s.devices).map((d) => ({ ...d })),
    domains: Object.values(s.domains).filter((d) => !d.static).map((d) => ({ ...d })),
    handles: Object.values(s.handles).map((h) => ({ ...h })),
    mms: Object.values(s.mms).map((m) => ({ ...m })),
  }),
});

export default iommuCore;
