/**
 * `iommu-lab/patch`: what a scenario module's patches import, by package
 * name (docs/scenarios.md "Patches"). A patch replaces declared kernel
 * functions by their kernel name (`iommu-lab functions` lists them) or an
 * actor's handlers, and is written against the kernel context `k` with the
 * model's own state, lock classes and functions:
 *
 *   import { type Patch, vfio, PCI, isErrno } from 'iommu-lab/patch';
 *
 * Each actor's model is a namespace (`vfio`, `iommuCore`, `driverCore`,
 * `pci`; `unit` for the IOMMU units' shared state), so the same readable
 * name in two actors stays apart.
 */
export type { Patch, PatchRef } from './runtime/patch.ts';
export type { AccessHow, Handler, Kernel, KObject } from './runtime/actor.ts';
export { declarations, declsOf } from './actors/functions.ts';
export type { FnPatch, KFunc, KFuncDecl } from './runtime/kfunc.ts';
export * from './protocol/errno.ts';
export * from './protocol/kernel.ts';
export * from './protocol/lock-classes.ts';
export type { LockRef } from './protocol/events.ts';
export * as vfio from './actors/vfio/api.ts';
export * as iommuCore from './actors/iommu-core/api.ts';
export * as driverCore from './actors/driver-core/api.ts';
export * as pci from './actors/pci/api.ts';
export * as unit from './hardware/common/state.ts';
