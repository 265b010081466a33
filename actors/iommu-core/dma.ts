import { errno, isErrno } from '../../protocol/errno.ts';
import type { Errno } from '../../protocol/errno.ts';
import { devIommuBit, devIommuOf, setDevIommuBit } from './state.ts';
import { linkOf } from './probe.ts';
import type { Domain, IK } from './state.ts';
import { unitCall, useDomain } from './domains.ts';
import { groupOfDevice } from './attach.ts';
import type { Ret } from './attach.ts';
import { iommu_deferred_attach } from './reset.ts';
import { kfunc } from '../../runtime/kfunc.ts';

/**
 * Mapping memory into domains: the IOMMU API (iommu_map/iommu_unmap) and the
 * DMA API through iommu-dma (drivers/iommu/dma-iommu.c:
 * iommu_dma_map_page → iommu_deferred_attach, iommu_dma_alloc_iova,
 * iommu_map). The core keeps a record of each mapping; the unit holds the
 * page table and the IOTLB.
 */

/** Pages below 4 GiB the model gives a DMA domain: tiny, so the 32-bit fallback is reachable. */
const DMA32_PAGES = 2;
const PAGE = 0x1000;

const isPaging = (d: Domain): boolean => d.type === 'paging' || d.type === 'dma' || d.type === 'dma-fq';

const map = kfunc('iommu_map_locked', { actor: 'iommu-core', source: 'drivers/iommu/iommu.c: iommu_map_locked' }, async function map(k: IK, d: Domain, iova: number, page: string): Promise<Ret> {
  if (d.mappings[String(iova)] !== undefined) return errno('EEXIST');
  // The IOVA is taken before the driver is called, in the same step as the
  // check: the kernel's allocator hands an IOVA to one caller only
  // (alloc_iova_fast), so two concurrent maps never share one. The core's
  // map paths take no lock: page-table locking is the driver's.
  k.write(d, 'mappings', { ...d.mappings, [String(iova)]: page }, { lockless: true });
  const ret = await unitCall<Ret>(k, d.unit, 'map', { domain: d.id, iova, page });
  if (isErrno(ret)) {
    const { [String(iova)]: _failed, ...rest } = d.mappings;
    k.write(d, 'mappings', rest, { lockless: true });
    return ret;
  }
  return 0;
});

const unmap = kfunc('iommu_unmap_locked', { actor: 'iommu-core', source: 'drivers/iommu/iommu.c: iommu_unmap_locked' }, async function unmap(k: IK, d: Domain, iova: number): Promise<Ret> {
  if (d.mappings[String(iova)] === undefined) return errno('ENOENT');
  await unitCall(k, d.unit, 'unmap', { domain: d.id, iova });
  await unitCall(k, d.unit, 'iotlb_sync', { domain: d.id });
  // The IOVA goes back to the allocator only once the IOTLB no longer holds it
  // (__iommu_dma_unmap: iommu_iotlb_sync, then iommu_dma_free_iova): a map
  // that took it earlier could be reached through the stale entry.
  const { [String(iova)]: _gone, ...rest } = d.mappings;
  k.write(d, 'mappings', rest, { lockless: true });
  return 0;
});

/** iommu_map(): paging domains only (-EINVAL for blocked/identity/SVA). */
export const iommu_map = kfunc('iommu_map', { actor: 'iommu-core', source: 'drivers/iommu/iommu.c: iommu_map' }, async function iommu_map(k: IK, { domain, iova, page }: { domain: string; iova: number; page: string }): Promise<Ret> {
  const d = useDomain(k, domain, 'iommu_map');
  if (d === null || !isPaging(d)) return errno('EINVAL');
  return map(k, d, iova, page);
});

/** iommu_unmap() + iommu_iotlb_sync(). */
export const iommu_unmap = kfunc('iommu_unmap', { actor: 'iommu-core', source: 'drivers/iommu/iommu.c: iommu_unmap' }, async function iommu_unmap(k: IK, { domain, iova }: { domain: string; iova: number }): Promise<Ret> {
  const d = useDomain(k, domain, 'iommu_unmap');
  if (d === null || !isPaging(d)) return errno('EINVAL');
  return unmap(k, d, iova);
});

/**
 * iommu_dma_map_page(): the device's DMA domain (iommu_get_dma_domain:
 * group->default_domain, read without a lock), the deferred attach, an IOVA
 * (iommu_dma_alloc_iova: 32-bit first while pci_32bit_workaround, which is
 * cleared — a read-modify-write without group->mutex — once that space is
 * exhausted), then the mapping. An identity default domain maps 1:1.
 */
export const iommu_dma_map = kfunc('iommu_dma_map', { actor: 'iommu-core', source: 'drivers/iommu/dma-iommu.c: iommu_dma_map' }, async function iommu_dma_map(k: IK, { dev, page }: { dev: string; page: string }): Promise<number | Errno> {
  const g = groupOfDevice(k, dev);
  const di = devIommuOf(k, dev);
  if (g === null || di === null) return errno('ENODEV');
  const def = k.read(g, 'default_domain', { lockless: true });
  const d = def === null ? null : useDomain(k, def, 'iommu_dma_map_page');
  if (d === null) return errno('ENODEV');
  const attached = await iommu_deferred_attach(k, { domain: d.id, dev });
  if (isErrno(attached)) return attached;
  if (!isPaging(d)) return physOf(page);
  let iova: number;
  const dma32 = k.state.specs[dev]?.bus === 'pci' && devIommuBit(k, di, 'pci_32bit_workaround');
  const used32 = Object.keys(d.mappings).filter((a) => Number(a) < 0x1_0000_0000).length;
  if (dma32 && used32 < DMA32_PAGES) {
    iova = PAGE * (1 + used32);
  } else {
    if (dma32) await setDevIommuBit(k, di, 'pci_32bit_workaround', false);
    iova = 0x1_0000_0000 + d.next_iova;
    k.write(d, 'next_iova', d.next_iova + PAGE, { lockless: true });
  }
  while (d.mappings[String(iova)] !== undefined) iova += PAGE;
  // iommu_dma_alloc_iova() hands the IOVA out at once; map() takes it in this step (see there)
  const ret = await map(k, d, iova, page);
  return isErrno(ret) ? ret : iova;
});

/**
 * __iommu_dma_unmap(): clear the page-table entry, sync the IOTLB, and only
 * then free the IOVA (iommu_dma_free_iova; a flush queue frees it after its
 * flush): a map that got the IOVA back before the invalidation completed
 * would translate through the stale IOTLB entry.
 */
export const iommu_dma_unmap = kfunc('iommu_dma_unmap', { actor: 'iommu-core', source: 'drivers/iommu/dma-iommu.c: iommu_dma_unmap' }, async function iommu_dma_unmap(k: IK, { dev, iova }: { dev: string; iova: number }): Promise<Ret> {
  const g = groupOfDevice(k, dev);
  if (g === null) return errno('ENODEV');
  const def = k.read(g, 'default_domain', { lockless: true });
  const d = def === null ? null : useDomain(k, def, 'iommu_dma_unmap_page');
  if (d === null) return errno('ENODEV');
  if (!isPaging(d)) return 0;
  return unmap(k, d, iova);
});

/**
 * dma_map_page_attrs() (kernel/dma/mapping.c): `use_dma_iommu(dev)` —
 * dev->dma_iommu, read at each call without a lock — picks iommu-dma
 * (iommu_dma_map_page) or dma-direct (dma_direct_map_page). A device whose
 * IOMMU has not been probed (no IOMMU, or its unit's driver has not
 * registered it yet) maps with dma-direct: the bus address is the page's
 * physical address, valid only while nothing translates the device. When
 * iommu_setup_dma_ops() switches the device, addresses handed out before
 * stay what they were — physical addresses, not IOVAs of the new domain.
 */
export const dma_map_page_attrs = kfunc('dma_map_page_attrs', { actor: 'iommu-core', source: 'kernel/dma/mapping.c: dma_map_page_attrs' }, async function dma_map_page_attrs(k: IK, { dev, page }: { dev: string; page: string }): Promise<number | Errno> {
  const link = k.state.devices[dev];
  if (link !== undefined && k.read(link, 'dma_iommu', { lockless: true })) return iommu_dma_map(k, { dev, page });
  return dmaDirectMapPage(k, dev, page);
});

/** dma_unmap_page_attrs(): the same choice at the time of the unmap. */
export const dma_unmap_page_attrs = kfunc('dma_unmap_page_attrs', { actor: 'iommu-core', source: 'kernel/dma/mapping.c: dma_unmap_page_attrs' }, async function dma_unmap_page_attrs(k: IK, { dev, iova }: { dev: string; iova: number }): Promise<Ret> {
  const link = k.state.devices[dev];
  if (link !== undefined && k.read(link, 'dma_iommu', { lockless: true })) return iommu_dma_unmap(k, { dev, iova });
  return dmaDirectUnmapPage(k, dev, iova);
});

/**
 * dma_direct_map_page(): phys_to_dma(dev, page_to_phys(page)) — no IOMMU,
 * no allocation (swiotlb bouncing is not modelled). The model records the
 * address with the device (DeviceLink.dma_direct) for the isolation checker.
 */
const dmaDirectMapPage = kfunc('dma_direct_map_page', { actor: 'iommu-core', source: 'kernel/dma/direct.h: dma_direct_map_page' }, function dmaDirectMapPage(k: IK, dev: string, page: string): number {
  const addr = physOf(page);
  const link = linkOf(k, dev);
  k.write(link, 'dma_direct', { ...k.read(link, 'dma_direct', { lockless: true }), [String(addr)]: page }, { lockless: true });
  return addr;
});

/** dma_direct_unmap_page(): nothing to tear down but the record; an address it never handed out is -EINVAL here (the kernel's dma-debug would complain). */
const dmaDirectUnmapPage = kfunc('dma_direct_unmap_page', { actor: 'iommu-core', source: 'kernel/dma/direct.h: dma_direct_unmap_page' }, function dmaDirectUnmapPage(k: IK, dev: string, addr: number): Ret {
  const link = k.state.devices[dev];
  const cur = link === undefined ? {} : k.read(link, 'dma_direct', { lockless: true });
  if (link === undefined || !Object.hasOwn(cur, String(addr))) return errno('EINVAL');
  const { [String(addr)]: _gone, ...rest } = cur;
  k.write(link, 'dma_direct', rest, { lockless: true });
  return 0;
});

/** A stable stand-in for a page's physical address under an identity mapping. */
function physOf(page: string): number {
  let h = 0;
  for (let i = 0; i < page.length; i++) h = (h * 31 + page.charCodeAt(i)) >>> 0;
  return (h % 0x10000) * PAGE;
}


