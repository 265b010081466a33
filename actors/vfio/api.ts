/** What a patch of the vfio actor may use (the package's iommu-lab/patch entry exports it as a namespace): its state, lock helpers and declared kernel functions. */
export * from './cdev.ts';
export * from './container.ts';
export * from './device.ts';
export * from './files.ts';
export * from './group.ts';
export * from './iommufd.ts';
export * from './kvm.ts';
export * from './pci-core.ts';
export * from './registration.ts';
export * from './state.ts';
