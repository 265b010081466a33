import type { Errno } from '../../protocol/errno.ts';
import type { DomainType } from '../../protocol/iommu-core.ts';
import type { UnitKind } from '../../protocol/topology.ts';
import type { FaultReason } from './faults.ts';
import type { HwDevice, HwDomain, Ret, UK, UnitState } from './state.ts';
import { tlbInvalidate } from './tlb.ts';
import { kfunc } from '../../runtime/kfunc.ts';

/**
 * What differs between IOMMU vendors, as one interface: the per-device
 * tables (context/PASID tables, DTE/GCR3, STE/CD), how a RID or PASID
 * attach changes them, and how a request is resolved to a domain. The
 * shared parts (domains and page tables, caches, invalidation, DMA, the
 * mailbox) live in common/unit.ts.
 */

/** Where a request goes, as the device entry (and its PASID table) says. */
export type Resolution =
  | { readonly kind: 'fault'; readonly reason: FaultReason; readonly domain: string | null }
  | { readonly kind: 'blocked'; readonly domain: string | null }
  | { readonly kind: 'bypass'; readonly domain: string | null }
  | { readonly kind: 'translate'; readonly domain: string }
  /** The entry translates through tables the unit did not build (a kdump kernel's copied context): the old kernel's memory. */
  | { readonly kind: 'copied' };

export interface AttachArgs {
  readonly dev: HwDevice;
  readonly domain: HwDomain;
  readonly old: string | null;
}

export interface PasidArgs extends AttachArgs {
  readonly pasid: number;
}

/** A device entry that translates through a domain: the RID (pasid null) or one PASID. */
export interface DomainUser {
  readonly dev: string;
  readonly pasid: number | null;
}

/**
 * The unit protocol's ops and the invalidation steps a vendor has a kernel
 * function for: each is declared under the vendor's name (runtime/kfunc.ts).
 */
export type UnitFn =
  | 'probe_device' | 'release_device' | 'domain_alloc' | 'domain_free' | 'attach_dev' | 'set_dev_pasid' | 'remove_dev_pasid'
  | 'map' | 'unmap' | 'iotlb_sync'
  /** Queue an IOTLB invalidation of a domain tag (common/invalidation.ts queueIotlb). */
  | 'flush_iotlb'
  /** Queue a device-TLB (ATS) invalidation (queueDevtlb). */
  | 'flush_devtlb'
  /** Wait for the queued invalidations to complete (syncQueue). */
  | 'sync';

/**
 * Where each of a vendor's functions is in the kernel, as "file: function"
 * (kernel-facts cites them this way). `null`: the vendor has none — an
 * optional op the core skips (the selftest mock has no release_device), or
 * a cache the model keeps that the driver has no flush for.
 */
export type UnitFns = Readonly<Record<UnitFn, string | null>>;

export interface VendorModel<V> {
  readonly kind: UnitKind;
  /**
   * The vendor's kernel functions behind the unit's handlers and the shared
   * invalidation steps. A handler runs under its vendor's name
   * (`intel_iommu_attach_device`, `arm_smmu_attach_dev`): the frame a stack
   * prints and the name a patch replaces (`unit: <name>` patches).
   */
  readonly fns: UnitFns;
  /** The actor kind ("vtd-unit"). */
  readonly actorKind: string;
  init(s: Omit<UnitState<V>, 'vendor'>): V;
  /** domain_alloc: the page-table format the driver picks, or its errno (-EOPNOTSUPP). */
  format(s: UnitState<V>, type: DomainType, pasid: boolean): string | Errno;
  /** ops->probe_device: the per-device tables. */
  probe(k: UK<V>, dev: HwDevice): Ret;
  /** ops->release_device: the core attached the release domain already. */
  release(k: UK<V>, dev: string): void;
  /** domain->ops->attach_dev. */
  attachDev(k: UK<V>, a: AttachArgs): Promise<Ret>;
  /** domain->ops->set_dev_pasid (also a replace when `old` is set). */
  setDevPasid(k: UK<V>, a: PasidArgs): Promise<Ret>;
  /** blocked_domain->ops->set_dev_pasid: the PASID's entry is torn down. */
  removeDevPasid(k: UK<V>, dev: string, pasid: number, domain: string): Promise<Ret>;
  resolve(s: UnitState<V>, dev: string, pasid: number | null): Resolution;
  /** Every device entry that currently translates through `domain`. */
  users(s: UnitState<V>, domain: string): readonly DomainUser[];
  inspect(s: UnitState<V>): Record<string, unknown>;
}

/**
 * ATS on or off for a device (pci_enable_ats / pci_disable_ats). Turning it
 * off makes the device drop its ATC: it may no longer issue translated
 * requests.
 */
export const setAts = kfunc('pci_enable_ats', { actor: 'unit', source: 'drivers/pci/ats.c: pci_enable_ats' }, function setAts<V>(k: UK<V>, dev: string, on: boolean): void {
  const d = k.state.devices.get(dev);
  if (d === undefined) return;
  const enable = on && d.ats;
  if (d.atsEnabled && !enable) {
    const atc = k.state.devtlb.get(dev);
    if (atc !== undefined) tlbInvalidate(atc, () => true);
  }
  d.atsEnabled = enable;
});
