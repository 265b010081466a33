/**
 * Whose memory a page is: the naming convention of the pages DMA reaches
 * (docs/hardware.md, "Memory"). The kernel model names pages when it maps
 * them (iommu_map's `page`, the DMA API's "<dev>-buf", the RMR region
 * "<dev>-rmr"); the units name what they reach without a mapping (SVA,
 * identity). The isolation checker classifies a DMA target by this name
 * alone, so every producer of pages uses the helpers below.
 *
 * - `user:<process>:<what>` — memory a user process owns and mapped for its
 *   device (VFIO type1 / iommufd maps pinned user pages: the VFIO model
 *   names its pages so).
 * - `sva:<mm>:<iova>` — a process address space reached through an SVA bond
 *   (the unit walks the mm's CPU page table); user memory of process <mm>.
 * - `phys:<addr>` — an identity (bypass) translation: any physical memory,
 *   kernel memory included.
 * - `oldkernel:<addr>` — a kdump kernel's device still translating through
 *   the crashed kernel's copied tables: kernel memory.
 * - anything else — kernel memory: driver buffers ("<dev>-buf"), firmware
 *   regions ("<dev>-rmr"), pages a kernel module mapped by name.
 */

export type MemoryClass =
  | { readonly kind: 'kernel' }
  | { readonly kind: 'user'; readonly process: string; readonly via: 'map' | 'sva' }
  | { readonly kind: 'any' };

const hex = (n: number): string => `0x${n.toString(16)}`;

export const userPage = (process: string, what: string): string => `user:${process}:${what}`;
export const svaPage = (mm: string, iova: number): string => `sva:${mm}:${hex(iova)}`;
export const physPage = (addr: number): string => `phys:${hex(addr)}`;
export const oldKernelPage = (addr: number): string => `oldkernel:${hex(addr)}`;
/** The page the core maps for a require_direct device's IOMMU_RESV_DIRECT region (iommu_create_device_direct_mappings). */
export const directRegionPage = (dev: string): string => `${dev}-rmr`;

export function classify(page: string): MemoryClass {
  if (page.startsWith('user:')) {
    const rest = page.slice('user:'.length);
    const i = rest.indexOf(':');
    return { kind: 'user', process: i < 0 ? rest : rest.slice(0, i), via: 'map' };
  }
  if (page.startsWith('sva:')) {
    const rest = page.slice('sva:'.length);
    const i = rest.lastIndexOf(':');
    return { kind: 'user', process: i < 0 ? rest : rest.slice(0, i), via: 'sva' };
  }
  if (page.startsWith('phys:')) return { kind: 'any' };
  return { kind: 'kernel' };
}

/** Words for a report: "kernel memory", "user memory of process p (SVA)", "any physical memory (identity)". */
export function describe(page: string): string {
  const c = classify(page);
  switch (c.kind) {
    case 'kernel':
      return 'kernel memory';
    case 'user':
      return `user memory of process ${c.process}${c.via === 'sva' ? ' (SVA)' : ''}`;
    case 'any':
      return 'any physical memory (identity mapping)';
  }
}
