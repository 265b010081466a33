/** What a patch of the pci actor may use (the package's iommu-lab/patch entry exports it as a namespace): its state, lock helpers and declared kernel functions. */
export * from './bus-reset.ts';
export * from './dma.ts';
export * from './hotplug.ts';
export * from './iov.ts';
export * from './probe.ts';
export * from './reset.ts';
export * from './state.ts';
export * from './topology.ts';
