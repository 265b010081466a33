import { objId } from '../../protocol/ids.ts';
import { PCI } from '../../protocol/kernel.ts';
import { ATC_INV, IOTLB_INV, atcObj } from '../events.ts';
import { tlbHas, tlbInvalidate } from './tlb.ts';
import type { TlbEntry } from './tlb.ts';
import type { UK } from './state.ts';
import type { UnitFns } from './vendor.ts';
import { kfunc, kernelNameOf } from '../../runtime/kfunc.ts';
import { pciSpec } from '../../protocol/topology.ts';

/**
 * Invalidation commands and their completion. Drivers queue commands
 * (VT-d's invalidation queue descriptors, SMMUv3 CMD_TLBI_* / CMD_ATC_INV,
 * AMD INVALIDATE_IOMMU_PAGES / INVALIDATE_IOTLB_PAGES) and then wait for a
 * completion (VT-d wait descriptor, CMD_SYNC, COMPLETION_WAIT): only then
 * are the cache entries gone. In the model a queued command takes effect at
 * `syncQueue`; until then a translation may still hit the old entry.
 *
 * Device-TLB invalidations go to the device over PCIe. A device that
 * pci_dev_is_disconnected() reports gone never answers, so the 7.0 drivers
 * skip it (B18, 4fc82cd907ac); the unit asks the pci actor. The model elides
 * a device-TLB invalidation that could change nothing (the ATC holds no
 * matching entry): the command would be a no-op, and the elision saves the
 * message to pci.
 */

export type InvCommand =
  /** IOTLB invalidation of a domain tag: the listed IOVAs, or all (domain-selective). */
  | { readonly op: 'iotlb'; readonly domain: string; readonly iovas: readonly number[] | null }
  /** Device-TLB (ATC) invalidation: one PASID ("rid" for requests without), or every tag; the listed IOVAs or all. */
  | { readonly op: 'devtlb'; readonly dev: string; readonly tag: string | null; readonly iovas: readonly number[] | null };

export const ridTag = 'rid';
export const atcTag = (pasid: number | null): string => (pasid === null ? ridTag : `pasid ${pasid}`);

const inIovas = (iovas: readonly number[] | null, e: TlbEntry): boolean => iovas === null || iovas.includes(e.iova);

function queueIotlbCmd<V>(k: UK<V>, domain: string, iovas: readonly number[] | null): void {
  k.state.queue.push({ op: 'iotlb', domain, iovas });
}

/** The device-TLB command (see queueDevtlb). */
async function queueDevtlbCmd<V>(k: UK<V>, dev: string, tag: string | null, iovas: readonly number[] | null): Promise<boolean> {
  const d = k.state.devices.get(dev);
  const atc = k.state.devtlb.get(dev);
  if (d === undefined || !d.atsEnabled || atc === undefined) return false;
  if (!tlbHas(atc, (e) => (tag === null || e.tag === tag) && inIovas(iovas, e))) return false;
  if (k.state.profile.skipsAtsInvalidationWhenDisconnected && (await isDisconnected(k, dev))) {
    k.state.stats.devtlbSkipped++;
    return false;
  }
  k.state.queue.push({ op: 'devtlb', dev, tag, iovas });
  return true;
}

/** pci_dev_is_disconnected(), asked of the pci actor (platform devices have no ATS and are never asked). */
const isDisconnected = kfunc('pci_dev_is_disconnected', { actor: 'unit', source: 'include/linux/pci.h: pci_dev_is_disconnected' }, async function isDisconnected<V>(k: UK<V>, dev: string): Promise<boolean> {
  if (pciSpec(k.state.topology, dev) === undefined) return false;
  return (await k.call<boolean>(PCI, 'pci_dev_is_disconnected', { dev })) === true;
});

/** The completion wait: every queued command takes effect, in order, and the checkers are told. */
function syncQueueCmd<V>(k: UK<V>): void {
  const s = k.state;
  if (s.queue.length === 0) return;
  for (const c of s.queue.splice(0)) {
    s.stats.invalidations++;
    switch (c.op) {
      case 'iotlb':
        tlbInvalidate(s.iotlb, (e) => e.tag === c.domain && inIovas(c.iovas, e));
        k.emit({ ev: 'access', obj: objId(c.domain), field: IOTLB_INV, op: 'write', guard: null, lockless: true, value: s.stats.invalidations });
        break;
      case 'devtlb': {
        const atc = s.devtlb.get(c.dev);
        if (atc !== undefined) tlbInvalidate(atc, (e) => (c.tag === null || e.tag === c.tag) && inIovas(c.iovas, e));
        k.emit({ ev: 'access', obj: atcObj(c.dev), field: ATC_INV, op: 'write', guard: null, lockless: true, value: s.stats.invalidations });
        break;
      }
    }
  }
  s.stats.syncs++;
}

/**
 * The three steps under each vendor's own kernel names (common/vendor.ts
 * UnitFns: VT-d cache_tag_flush_range / qi_flush_dev_iotlb_pasid /
 * qi_submit_sync, SMMUv3 arm_smmu_tlb_inv_range_domain /
 * arm_smmu_atc_inv_master / arm_smmu_cmdq_issue_cmdlist, AMD
 * amd_iommu_domain_flush_pages / device_flush_iotlb /
 * iommu_completion_wait), declared when the vendor's actor is defined
 * (common/unit.ts). A unit kind without declarations (a plug-in unit) runs
 * the plain steps.
 */
interface InvSteps {
  readonly iotlb: typeof queueIotlbCmd;
  readonly devtlb: typeof queueDevtlbCmd;
  readonly sync: typeof syncQueueCmd;
}
const PLAIN: InvSteps = { iotlb: queueIotlbCmd, devtlb: queueDevtlbCmd, sync: syncQueueCmd };
const stepsByKind = new Map<string, InvSteps>();

/** Declares a vendor's invalidation steps (once per unit kind; common/unit.ts defineUnit). */
export function declareInvalidation(kind: string, fns: UnitFns): void {
  const meta = (source: string) => ({ actor: 'unit', unit: kind, source });
  const decl = <F extends (k: never, ...a: never[]) => unknown>(source: string | null, f: F): F => (source === null ? f : kfunc(kernelNameOf(source), meta(source), f));
  stepsByKind.set(kind, { iotlb: decl(fns.flush_iotlb, queueIotlbCmd), devtlb: decl(fns.flush_devtlb, queueDevtlbCmd), sync: decl(fns.sync, syncQueueCmd) });
}

const stepsOf = <V>(k: UK<V>): InvSteps => stepsByKind.get(k.state.spec.kind) ?? PLAIN;

/** Queues an IOTLB invalidation of `domain`'s tag: the listed IOVAs, or all (null). */
export function queueIotlb<V>(k: UK<V>, domain: string, iovas: readonly number[] | null): void {
  stepsOf(k).iotlb(k, domain, iovas);
}

/**
 * Queues a device-TLB invalidation of `dev` (tag null: every PASID) unless
 * ATS is off, nothing matches, or the device is disconnected (B18).
 * Returns whether a command was queued.
 */
export function queueDevtlb<V>(k: UK<V>, dev: string, tag: string | null, iovas: readonly number[] | null): Promise<boolean> {
  return stepsOf(k).devtlb(k, dev, tag, iovas);
}

/** The completion wait (VT-d wait descriptor, CMD_SYNC, COMPLETION_WAIT). */
export function syncQueue<V>(k: UK<V>): void {
  stepsOf(k).sync(k);
}

/**
 * After a device entry (RID or one PASID) changed what it translates
 * through: flush that tag of the device's ATC, and complete. Drivers do this
 * in their teardown / commit paths (intel_pasid_tear_down_entry's device-TLB
 * step, arm_smmu_attach_commit's ATC invalidation, AMD's device flush).
 */
export async function flushDeviceEntry<V>(k: UK<V>, dev: string, pasid: number | null): Promise<void> {
  await queueDevtlb(k, dev, atcTag(pasid), null);
  syncQueue(k);
}
