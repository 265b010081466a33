import type { Kernel, KObject } from '../../runtime/actor.ts';
import type { LockRef } from '../../protocol/events.ts';
import type { ObjId } from '../../protocol/ids.ts';
import type { DomainType } from '../../protocol/iommu-core.ts';
import type { KernelConfig } from '../../protocol/kernel.ts';
import type { Topology, UnitSpec } from '../../protocol/topology.ts';
import { presentAtBoot } from '../../protocol/topology.ts';
import type { ModelVariants } from '../../protocol/variants.ts';
import { groupMutex } from '../../protocol/lock-classes.ts';
import { blockedDomainOf, identityDomainOf } from '../../protocol/iommu-unit.ts';
import { kfunc } from '../../runtime/kfunc.ts';

/**
 * The IOMMU core's objects (docs/kernel-facts.md §2). iommu-core owns them
 * all; other actors reach them by message. Every field another task could
 * touch is read and written through `k.read` / `k.write` with its guard, and
 * list/record fields are replaced, never mutated in place, so the value an
 * `access` event carries is the value at that moment (the invariants checker
 * keeps a shadow of them: checkers/invariants).
 *
 * Object ids and types (the `alloc` type is what the checkers key on):
 * - struct device's IOMMU fields: `DeviceLink`, id = the device name (the
 *   same object id driver-core uses for the struct device), not allocated here;
 * - struct dev_iommu: `DevIommu`, id `<dev>.iommu`, type "dev_iommu";
 * - struct iommu_group: `Group`, id `iommu_group.<n>` (IDA-style: lowest free
 *   number), type "iommu_group";
 * - struct iommu_domain: `Domain`, id from k.alloc (type "iommu_domain"), or
 *   `<unit>.blocked_domain` / `<unit>.identity_domain` for the static ones;
 * - SVA: `IommuMm` (id `<mm>.iommu_mm`, type "iommu_mm"), `SvaHandle`
 *   (type "iommu_sva").
 */

/** struct device's IOMMU fields (dev->iommu_group, dev->iommu, dev->dma_iommu). */
export interface DeviceLink extends KObject {
  /** dev->iommu_group: set at probe (iommu_probe_device_lock), cleared at release under group->mutex; read locklessly by many APIs. */
  iommu_group: string | null;
  /** dev->iommu: the DevIommu id, or null before probe / after release. */
  iommu: string | null;
  /**
   * dev->dma_iommu: DMA API goes through iommu-dma (iommu_setup_dma_ops,
   * under group->mutex); false: dma-direct (kernel/dma/direct.c). Read
   * without a lock by the DMA API at each call (use_dma_iommu()).
   */
  dma_iommu: boolean;
  /**
   * The bus addresses dma-direct handed out for this device and not yet
   * unmapped (address → page). Not a kernel field (dma-direct keeps no
   * record): the model's, so the isolation checker can tell a dma-direct
   * address from a translation of the domain attached after the switch.
   */
  dma_direct: Readonly<Record<string, string>>;
}

/** iommu_device_list (drivers/iommu/iommu.c): the registered IOMMU instances, under iommu_device_lock. */
export interface IommuDeviceList extends KObject {
  /** Unit names, in registration order. */
  units: readonly string[];
}

/** struct dev_iommu (include/linux/iommu.h). */
export interface DevIommu extends KObject {
  readonly dev: string;
  /** iommu_dev: the unit that translates the device. */
  readonly unit: string;
  max_pasids: number;
  /**
   * The bit fields attach_deferred:1, pci_32bit_workaround:1, require_direct:1
   * share one u32 in the kernel. Variant `dev-iommu-bits`: `shared-word`
   * keeps them in `bits` and every write is a read-modify-write of the word;
   * `separate-bools` gives each its own field. Use devIommuBit/setDevIommuBit.
   */
  bits: number;
  attach_deferred: boolean;
  pci_32bit_workaround: boolean;
  require_direct: boolean;
  /** Variant `reset-nesting=depth-counter`: the stable fix's per-device reset depth. */
  reset_depth: number;
  /**
   * dev->iommu->fwspec exists: set up front for the mock unit (the selftest
   * sets it before device_add), created by of_iommu_configure() from the bus
   * dma_configure for a firmware-described (SMMUv3: DT/IORT) unit, never for
   * DMAR/IVRS units (no fwspec on x86). Under iommu_probe_device_lock.
   */
  fwspec: boolean;
  /**
   * The domain the hardware translates this device's RID through, as the
   * core last installed it (__iommu_attach_device, release/reset paths).
   * Not a kernel field: it is what the unit's table says, kept here so the
   * invariants checker can see it. Written under group->mutex.
   */
  hw_domain: string | null;
}

export type DevIommuBit = 'attach_deferred' | 'pci_32bit_workaround' | 'require_direct';
export const DEV_IOMMU_BITS: Readonly<Record<DevIommuBit, number>> = { attach_deferred: 1, pci_32bit_workaround: 2, require_direct: 4 };

/** struct iommu_group (drivers/iommu/iommu.c). */
export interface Group extends KObject {
  /** Member device names (group->devices), in the order they joined. */
  devices: readonly string[];
  owner: string | null;
  owner_cnt: number;
  domain: string | null;
  default_domain: string | null;
  blocking_domain: string | null;
  /** 7.0.0: non-null while a PCI reset of some member is in progress. */
  resetting_domain: string | null;
  /** PASID → attached domain id (pasid_array; entry 0 is iommufd's RID handle). Keys are decimal strings. */
  pasid_array: Readonly<Record<string, string>>;
  /**
   * The attach handle each pasid_array entry is tagged with
   * (iommu_make_pasid_array_entry); absent for a bare-domain entry. Written
   * with pasid_array, under group->mutex.
   */
  pasid_handles: Readonly<Record<string, string>>;
  /** A counter naming the handles iommufd would allocate per replace (a model device, not a kernel field). */
  handle_seq: number;
  /** Variant `dma-owner=viable-scan-unlocked` (seed 000 RFC): each member's recorded DMA hint. */
  dma_hints: Readonly<Record<string, 'kernel' | 'user'>>;
}

/** struct iommu_domain. */
export interface Domain extends KObject {
  /** Mutable only for the sysfs DMA → DMA-FQ upgrade, which happens in place. */
  type: DomainType;
  /** domain->owner: the unit (iommu_ops) that allocated it. */
  readonly unit: string;
  /** ops->blocked_domain / identity_domain: never freed. */
  readonly static: boolean;
  /** Allocated with IOMMU_HWPT_ALLOC_PASID. */
  readonly pasid: boolean;
  /** SVA: domain->users (bonds sharing it) and the mm it mirrors. */
  users: number;
  readonly mm: string | null;
  /** IOVA → page (the core's record of iommu_map; the unit keeps the page table). */
  mappings: Readonly<Record<string, string>>;
  /** iommu-dma's IOVA allocator cursor (DMA domains). */
  next_iova: number;
}

/** mm->iommu_mm (iommu-sva.c). */
export interface IommuMm extends KObject {
  readonly mm: string;
  pasid: number;
  /** sva_domains: the SVA domains built for this mm, one per unit. */
  sva_domains: readonly string[];
}

/** struct iommu_sva (a bond). */
export interface SvaHandle extends KObject {
  readonly dev: string;
  readonly group: string;
  readonly domain: string;
  readonly pasid: number;
  users: number;
}

/**
 * What the firmware and the device tell the IOMMU core about one device
 * (fwspec, PCI capabilities, RMRR/RMR, the platform group), indexed once
 * from the topology so the probe, reset and DMA paths do not search it.
 */
export interface DeviceSpec {
  readonly bus: 'pci' | 'platform';
  readonly unit: string | null;
  readonly pasid_bits: number;
  readonly require_direct: boolean;
  readonly attach_deferred: boolean;
  readonly ats: boolean;
  /** Platform devices that share an iommu group (a driver device_group op); null: generic_device_group. */
  readonly group: string | null;
}

export interface IommuCoreState {
  readonly topology: Topology;
  readonly specs: Readonly<Record<string, DeviceSpec>>;
  readonly variants: ModelVariants;
  readonly units: Readonly<Record<string, UnitSpec>>;
  readonly devices: Record<string, DeviceLink>;
  readonly devIommu: Record<string, DevIommu>;
  readonly groups: Record<string, Group>;
  readonly domains: Record<string, Domain>;
  readonly mms: Record<string, IommuMm>;
  readonly handles: Record<string, SvaHandle>;
  /** Group numbers in use (the IDA) and how often each was reused, for fresh ids. */
  readonly groupIds: Record<number, number>;
  /**
   * The group's kobject directory /sys/kernel/iommu_groups/N as kernfs sees
   * it: `seq` names this allocation (N is reused after ida_free), `nodes`
   * is set once a path walk reached one of its attribute files (the model
   * makes kernfs nodes lazily: a directory nobody looked into has nothing to
   * drain at removal). Model bookkeeping, not a kernel field.
   */
  readonly groupKobj: Record<string, { readonly seq: number; nodes: boolean }>;
  groupSeq: number;
  /** iommu_global_pasid_ida: next global PASID. */
  nextPasid: number;
  /** iommu_device_list: units whose driver registered them (present_at_boot, or the iommu.register op). */
  readonly iommuDeviceList: IommuDeviceList;
  /** bus_iommu_probe() walks in progress: walk id → its group_list (groups waiting for phase 2), in order. */
  readonly walks: Record<string, readonly string[]>;
  /** IOMMU_DOMAIN_DMA vs identity for new default domains (iommu.passthrough). */
  readonly passthrough: boolean;
}

export type IK = Kernel<IommuCoreState>;

/** The kernel's iommufd selftest mock has no identity domain (docs/kernel-facts.md §7.1); the real drivers do. */
export const hasIdentityDomain = (u: UnitSpec): boolean => u.kind !== 'mock';

function staticDomain(id: string, type: DomainType, unit: string): Domain {
  return { id: asObj(id), type, unit, static: true, pasid: true, users: 0, mm: null, mappings: {}, next_iova: 0 };
}

export function initialState(config: unknown): IommuCoreState {
  const { topology, variants } = config as KernelConfig;
  const units: Record<string, UnitSpec> = {};
  const domains: Record<string, Domain> = {};
  for (const u of topology.units) {
    units[u.name] = u;
    // ops->blocked_domain and ops->identity_domain: static objects of the driver
    domains[blockedDomainOf(u.name)] = staticDomain(blockedDomainOf(u.name), 'blocked', u.name);
    if (hasIdentityDomain(u)) domains[identityDomainOf(u.name)] = staticDomain(identityDomainOf(u.name), 'identity', u.name);
  }
  const specs: Record<string, DeviceSpec> = {};
  for (const d of topology.pci) {
    specs[d.bdf] = {
      bus: 'pci', unit: d.unit ?? null, pasid_bits: d.pasid_bits ?? 0, require_direct: d.require_direct ?? false,
      attach_deferred: d.attach_deferred ?? false, ats: d.ats ?? false, group: null,
    };
  }
  for (const d of topology.platform ?? []) {
    specs[d.name] = {
      bus: 'platform', unit: d.unit ?? null, pasid_bits: d.pasid_bits ?? 0, require_direct: d.require_direct ?? false,
      attach_deferred: false, ats: false, group: d.group ?? null,
    };
  }
  return {
    topology, specs, variants, units,
    devices: {}, devIommu: {}, groups: {}, domains, mms: {}, handles: {},
    groupIds: {}, groupKobj: {}, groupSeq: 0, nextPasid: 1, passthrough: topology.passthrough ?? false,
    iommuDeviceList: { id: asObj('iommu_device_list'), units: topology.units.filter(presentAtBoot).map((u) => u.name) },
    walks: {},
  };
}

// ---- guards ---------------------------------------------------------------------

export const G = (group: string): LockRef => groupMutex(group);
/** Group fields are guarded by group->mutex. */
export const underGroup = (group: string): { readonly guard: LockRef } => ({ guard: G(group) });

/** dev->iommu_group is read without locks by most APIs (docs/kernel-facts.md §1.4): a marked lockless read. */
export const deviceGroup = kfunc('dev_iommu_group', { actor: 'iommu-core', source: 'drivers/iommu/iommu.c: dev_iommu_group' }, function deviceGroup(k: IK, dev: string): string | null {
  const link = k.state.devices[dev];
  if (link === undefined) return null;
  return k.read(link, 'iommu_group', { lockless: true });
});

/** dev_has_iommu(): dev->iommu && dev->iommu->iommu_dev (lockless, as the kernel reads it). */
export const devIommuOf = kfunc('dev_has_iommu', { actor: 'iommu-core', source: 'drivers/iommu/iommu.c: dev_has_iommu' }, function devIommuOf(k: IK, dev: string): DevIommu | null {
  const link = k.state.devices[dev];
  if (link === undefined) return null;
  const id = k.read(link, 'iommu', { lockless: true });
  return id === null ? null : k.state.devIommu[id] ?? null;
});

// ---- the dev->iommu bit fields (variant dev-iommu-bits) ------------------------

/**
 * Reads one dev->iommu bit. `guard` is the lock the caller holds for it
 * (group->mutex), or undefined for the unlocked readers (the DMA fast path
 * in iommu_deferred_attach, iommu_dma_alloc_iova). With `shared-word` that
 * reader is a plain load of a bit field (READ_ONCE cannot take a bit field,
 * seed 003); with `separate-bools` it is READ_ONCE of a bool.
 */
export function devIommuBit(k: IK, di: DevIommu, bit: DevIommuBit, guard?: LockRef): boolean {
  if (k.state.variants['dev-iommu-bits'] === 'shared-word') return (k.read(di, 'bits', guard === undefined ? {} : { guard }) & DEV_IOMMU_BITS[bit]) !== 0;
  return k.read(di, bit, guard === undefined ? { lockless: true } : { guard });
}

/**
 * Writes one dev->iommu bit. With `shared-word` this is the compiler's
 * read-modify-write of the whole u32 (load, a preemption window, store), so
 * two writers of different bits can lose an update; every access is plain.
 * With `separate-bools` each flag is its own bool written with WRITE_ONCE
 * (so the fast path's READ_ONCE pairs with it), still under its lock where
 * the kernel holds one.
 */
export async function setDevIommuBit(k: IK, di: DevIommu, bit: DevIommuBit, value: boolean, guard?: LockRef): Promise<void> {
  const how = guard === undefined ? {} : { guard };
  if (k.state.variants['dev-iommu-bits'] === 'shared-word') {
    const word = k.read(di, 'bits', how);
    await k.yield();
    k.write(di, 'bits', value ? word | DEV_IOMMU_BITS[bit] : word & ~DEV_IOMMU_BITS[bit], how);
    return;
  }
  k.write(di, bit, value, { ...how, lockless: true });
}

// ---- lookups ----------------------------------------------------------------------

export function groupById(k: IK, group: string): Group | null {
  return k.state.groups[group] ?? null;
}

/** Object ids as ObjId-compatible strings. */
export const asObj = (s: string): ObjId => s as ObjId;
