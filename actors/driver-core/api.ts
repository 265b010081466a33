/** What a patch of the driver-core actor may use (the package's iommu-lab/patch entry exports it as a namespace): its state, lock helpers and declared kernel functions. */
export * from './bus.ts';
export * from './core.ts';
export * from './dd.ts';
export * from './deferred.ts';
export * from './driver-ops.ts';
export * from './state.ts';
export * from './kernfs.ts';
export * from './module.ts';
export * from './sysfs.ts';
