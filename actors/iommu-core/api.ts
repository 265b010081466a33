/** What a patch of the iommu-core actor may use (the package's iommu-lab/patch entry exports it as a namespace): its state, lock helpers and declared kernel functions. */
export * from './attach.ts';
export * from './dma.ts';
export * from './domains.ts';
export * from './handle.ts';
export * from './owner.ts';
export * from './pasid.ts';
export * from './probe.ts';
export * from './reset.ts';
export * from './state.ts';
export * from './sva.ts';
export * from './sysfs.ts';
