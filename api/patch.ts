/**
 * What a patch module needs (`import type { Patch, IK } from 'iommu-lab/patch'`):
 * the kernel context `k` a handler is written against, each core actor's
 * state and context type, and the helpers the actors' own handlers use to
 * find objects and name the locks that guard them. A scenario module
 * exports `patches: Patch[]`; its variant axes choose upstream or patched
 * code (docs/scenarios.md, scenarios/examples/patch-get-domain.ts).
 */
export type { Patch } from '../runtime/patch.ts';
export type { Kernel, Handler } from '../runtime/actor.ts';
export type { LockRef } from '../protocol/events.ts';
export type { ActorId, ObjId, TaskId } from '../protocol/ids.ts';

// iommu-core (drivers/iommu/iommu.c): groups, domains, dev_iommu
export type { IK, IommuCoreState, Group, Domain, DevIommu, DevIommuBit } from '../actors/iommu-core/state.ts';
export { G, underGroup, deviceGroup, devIommuOf, devIommuBit, setDevIommuBit, groupById } from '../actors/iommu-core/state.ts';
export { groupOfDevice } from '../actors/iommu-core/attach.ts';
// driver core (drivers/base/dd.c, core.c): struct device, device_lock
export type { DK, DriverCoreState, Device, DeviceDriver } from '../actors/driver-core/state.ts';
export { DL, underDevice, onceUnderDevice, LOCKLESS, deviceOf, driverOf, getDevice, putDevice, isFreed } from '../actors/driver-core/state.ts';
// PCI core (drivers/pci/)
export type { K as PK, PciState, PciDev } from '../actors/pci/state.ts';
export { devOf as pciDevOf, pciBusSem } from '../actors/pci/state.ts';
// VFIO (drivers/vfio/)
export type { VK, VfioGroup } from '../actors/vfio/state.ts';
// lock classes (the lockdep keys the model's locks use)
export { classLock, mutexRef, rwsemRef, completionRef, nested, deviceLock, groupMutex } from '../protocol/lock-classes.ts';

// Declared kernel functions (runtime/kfunc.ts): patches replace them by kernel name (`iommu-lab functions`).
export { declarations, declsOf } from '../actors/functions.ts';
export type { FnPatch, KFunc, KFuncDecl } from '../runtime/kfunc.ts';
export * from '../protocol/errno.ts';
export * from '../protocol/kernel.ts';
export * from '../protocol/lock-classes.ts';
// Each actor's model as a namespace (state, lock helpers, declared functions by TS name), so a name two actors share stays apart.
export * as vfio from '../actors/vfio/api.ts';
export * as iommuCore from '../actors/iommu-core/api.ts';
export * as driverCore from '../actors/driver-core/api.ts';
export * as pci from '../actors/pci/api.ts';
export * as unit from '../hardware/common/state.ts';

// Kernel rules a scenario module replaces (docs/scenarios.md "Kernel rules as data"): the §8.2 judgements as
// the invariants checker runs them, so a replacement can narrow or extend an upstream rule.
export type { GroupRule, WriteRule, InvariantReplacement } from '../checkers/invariants/invariants-checker.ts';
export type { Violation, GroupDump, MemberState } from '../checkers/invariants/rules.ts';
export type { Shadow, Change } from '../checkers/invariants/shadow.ts';
export * as invariants from '../checkers/invariants/rules.ts';
