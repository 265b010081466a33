import { defineActor } from '../../runtime/actor.ts';
import type { ActorDef, Handlers } from '../../runtime/actor.ts';
import { kernelNameOf, kfunc } from '../../runtime/kfunc.ts';
import { errno, isErrno } from '../../protocol/errno.ts';
import type { DomainType } from '../../protocol/iommu-core.ts';
import { blockedDomainOf, identityDomainOf } from '../../protocol/iommu-unit.ts';
import type { DmaOutcome, IommuUnitMailbox, UnitConfig } from '../../protocol/iommu-unit.ts';
import { profileOf } from '../profiles.ts';
import { pciSpec, presentAtBoot } from '../../protocol/topology.ts';
import { formatFault } from './faults.ts';
import { addInjection, shouldFail } from './inject.ts';
import type { UnitTestMailbox } from './inject.ts';
import { atcTag, declareInvalidation, queueDevtlb, queueIotlb, syncQueue } from './invalidation.ts';
import { ptMap, ptUnmap, ptView } from './page-table.ts';
import { DEFAULT_MAX_PASIDS, translates } from './state.ts';
import type { HwDomain, Ret, UK, UnitState } from './state.ts';
import { newTlb, tlbView } from './tlb.ts';
import { translate } from './translate.ts';
import type { UnitFn, VendorModel } from './vendor.ts';

/**
 * The actor every unit model is: the unit protocol (protocol/iommu-unit.ts)
 * plus the test mailbox (fault_inject), with the vendor's tables plugged in.
 * The core serialises writers of a device's entries with group->mutex; the
 * unit itself is one actor, so each handler runs alone, and only an
 * explicit `k.yield()` in a vendor's attach (a break-before-make window) or
 * a message to pci lets another task's DMA in between.
 */

export type UnitMailbox = IommuUnitMailbox | UnitTestMailbox;

function newDomain(id: string, type: DomainType, isStatic: boolean, format: string, opts: { readonly mm?: string | null; readonly pasid?: boolean } = {}): HwDomain {
  return { id, type, static: isStatic, mm: opts.mm ?? null, pasid: opts.pasid ?? false, format, pt: new Map(), freed: false };
}

function initState<V>(model: VendorModel<V>, config: UnitConfig): UnitState<V> {
  const spec = config.topology.units.find((u) => u.name === config.unit);
  if (spec === undefined) throw new Error(`${model.actorKind}: no unit "${config.unit}" in the topology`);
  const profile = profileOf(spec);
  if (profile.kind !== model.kind) throw new Error(`${model.actorKind}: unit ${spec.name} is a ${spec.kind}, not a ${model.kind}`);
  const domains = new Map<string, HwDomain>([[blockedDomainOf(spec.name), newDomain(blockedDomainOf(spec.name), 'blocked', true, 'none', { pasid: true })]]);
  if (profile.identity) domains.set(identityDomainOf(spec.name), newDomain(identityDomainOf(spec.name), 'identity', true, 'none', { pasid: true }));
  const base = {
    name: spec.name, spec, profile, topology: config.topology, domains, devices: new Map(), iotlb: newTlb(profile.iotlbEntries), devtlb: new Map(),
    gather: new Map(), queue: [], faults: [], inject: [], translating: presentAtBoot(spec),
    stats: { translations: 0, iotlbHits: 0, devtlbHits: 0, walks: 0, faults: 0, invalidations: 0, syncs: 0, devtlbSkipped: 0 },
  };
  return { ...base, vendor: model.init(base) };
}

/** A domain the core may use with this unit: allocated here and not freed. */
function live<V>(k: UK<V>, domain: string): HwDomain | null {
  const d = k.state.domains.get(domain);
  return d === undefined || d.freed ? null : d;
}

/** Domains the core freed while a device still pointed at them go once nothing does. */
function dropFreed<V>(k: UK<V>, model: VendorModel<V>): void {
  for (const d of [...k.state.domains.values()]) {
    if (d.freed && model.users(k.state, d.id).length === 0) k.state.domains.delete(d.id);
  }
}

/**
 * The handlers under the vendor's kernel names (runtime/kfunc.ts): the core's
 * `ops->attach_dev(...)` lands in `intel_iommu_attach_device` on a VT-d
 * unit, `arm_smmu_attach_dev` on an SMMUv3. The vendor's part of it
 * (VendorModel.attachDev) runs inside that frame: it is the same kernel
 * function, so it has no declaration of its own. `dma` (the hardware's
 * translation) and `fault_inject` (the test mailbox) stand for no kernel
 * function.
 */
function declareHandlers<V>(model: VendorModel<V>, hs: Handlers<UnitState<V>, UnitMailbox>): Handlers<UnitState<V>, UnitMailbox> {
  const out: Record<string, unknown> = { ...hs };
  for (const [op, h] of Object.entries(hs)) {
    const source = Object.hasOwn(model.fns, op) ? model.fns[op as UnitFn] : null;
    if (source !== null) out[op] = kfunc(kernelNameOf(source), { actor: 'unit', unit: model.kind, source }, h as (k: never, body: never) => unknown);
  }
  return out as unknown as Handlers<UnitState<V>, UnitMailbox>;
}

/** Builds the actor of one vendor model. */
export function defineUnit<V>(model: VendorModel<V>): ActorDef<UnitState<V>> {
  declareInvalidation(model.kind, model.fns);
  return defineActor<UnitState<V>, UnitMailbox>(model.actorKind, {
    state: (config) => initState(model, config as UnitConfig),
    handlers: declareHandlers(model, {
      // ops->probe_device: dev->iommu->max_pasids = min(device PASID width, the unit's)
      probe_device(k, { dev, pasid_bits }) {
        const s = k.state;
        const devMax = pasid_bits > 0 ? 2 ** pasid_bits : 0;
        const maxPasids = Math.min(devMax, s.spec.max_pasids ?? DEFAULT_MAX_PASIDS);
        const ats = pciSpec(s.topology, dev)?.ats ?? false;
        const hw = { dev, maxPasids, ats, atsEnabled: false };
        s.devices.set(dev, hw);
        if (ats) s.devtlb.set(dev, newTlb(s.profile.devtlbEntries));
        const ret = model.probe(k, hw);
        if (isErrno(ret)) {
          s.devices.delete(dev);
          s.devtlb.delete(dev);
          return ret;
        }
        return { max_pasids: maxPasids };
      },

      release_device(k, { dev }): Ret {
        model.release(k, dev);
        k.state.devices.delete(dev);
        k.state.devtlb.delete(dev);
        dropFreed(k, model);
        return 0;
      },

      domain_alloc(k, { domain, type, pasid, mm }): Ret {
        const s = k.state;
        if (shouldFail(k, 'domain_alloc', null)) return errno('ENOMEM');
        if (s.domains.has(domain)) {
          k.warn(`${s.name}: domain ${domain} allocated twice`);
          return errno('EEXIST');
        }
        if (type === 'sva' && !s.profile.sva) return errno('EOPNOTSUPP');
        const format = model.format(s, type, pasid);
        if (isErrno(format)) return format;
        s.domains.set(domain, newDomain(domain, type, false, format, { mm: type === 'sva' ? (mm ?? null) : null, pasid }));
        return 0;
      },

      /**
       * The driver's domain free: its tag is flushed from the IOTLB. A device
       * entry still naming it (a core bug) keeps the hardware walking the
       * freed page table, so the record stays, marked freed.
       */
      domain_free(k, { domain }): Ret {
        const d = k.state.domains.get(domain);
        if (d === undefined || d.static) return 0;
        queueIotlb(k, domain, null);
        syncQueue(k);
        k.state.gather.delete(domain);
        if (model.users(k.state, domain).length > 0) d.freed = true;
        else k.state.domains.delete(domain);
        return 0;
      },

      async attach_dev(k, { domain, dev, old }): Promise<Ret> {
        const d = live(k, domain);
        const hw = k.state.devices.get(dev);
        if (d === null) return errno('EINVAL');
        if (hw === undefined) return errno('ENODEV');
        if (shouldFail(k, 'attach_dev', dev)) return errno('ENOMEM');
        const ret = await model.attachDev(k, { dev: hw, domain: d, old });
        dropFreed(k, model);
        return ret;
      },

      async set_dev_pasid(k, { domain, dev, pasid, old }): Promise<Ret> {
        const d = live(k, domain);
        const hw = k.state.devices.get(dev);
        if (d === null) return errno('EINVAL');
        if (hw === undefined) return errno('ENODEV');
        if (pasid === 0 || pasid >= hw.maxPasids) return errno('EINVAL');
        if (shouldFail(k, 'set_dev_pasid', dev)) return errno('ENOMEM');
        const ret = await model.setDevPasid(k, { dev: hw, domain: d, old, pasid });
        dropFreed(k, model);
        return ret;
      },

      async remove_dev_pasid(k, { dev, pasid, domain }): Promise<Ret> {
        if (!k.state.devices.has(dev)) return 0;
        const ret = await model.removeDevPasid(k, dev, pasid, domain);
        dropFreed(k, model);
        return ret;
      },

      map(k, { domain, iova, page }): Ret {
        const d = live(k, domain);
        if (d === null || d.static || !translates(d.type) || d.mm !== null) return errno('EINVAL');
        ptMap(k, d, iova, page);
        return 0;
      },

      // The PTE goes; the IOVA joins the gather until iotlb_sync. The caches keep the entry until then.
      unmap(k, { domain, iova }): Ret {
        const d = live(k, domain);
        if (d === null || d.static) return errno('EINVAL');
        if (ptUnmap(k, d, iova) !== undefined) k.state.gather.set(domain, [...(k.state.gather.get(domain) ?? []), iova]);
        return 0;
      },

      /**
       * iommu_iotlb_sync(): IOTLB invalidation of the gathered IOVAs, a
       * device-TLB invalidation for every ATS device entry using the domain
       * (not for a disconnected device), then the completion wait.
       */
      async iotlb_sync(k, { domain }): Promise<Ret> {
        const iovas = k.state.gather.get(domain);
        if (iovas === undefined || iovas.length === 0) return 0;
        k.state.gather.delete(domain);
        queueIotlb(k, domain, iovas);
        for (const u of model.users(k.state, domain)) await queueDevtlb(k, u.dev, atcTag(u.pasid), iovas);
        syncQueue(k);
        return 0;
      },

      set_translation(k, { enabled }): Ret {
        k.state.translating = enabled;
        return 0;
      },

      dma(k, { dev, iova, pasid, write }): DmaOutcome {
        const t = translate(k, model, dev, iova, pasid, write);
        const ev = { ev: 'dma', dev, iova, pasid, outcome: t.outcome, target: t.target, domain: t.domain, write, profile: k.state.profile.id } as const;
        k.emit(t.via === null ? ev : { ...ev, via: t.via });
        return { outcome: t.outcome, target: t.target, domain: t.domain };
      },

      fault_inject(k, { site, dev, nth }): Ret {
        addInjection(k, site, dev ?? null, nth ?? 1);
        return 0;
      },
    }),
    inspect: (s) => ({
      unit: s.name,
      kind: s.spec.kind,
      profile: s.profile.id,
      devices: Object.fromEntries([...s.devices].map(([dev, d]) => [dev, { max_pasids: d.maxPasids, ats: d.ats, ats_enabled: d.atsEnabled }])),
      domains: Object.fromEntries([...s.domains].map(([id, d]) => [id, { type: d.type, format: d.format, static: d.static, freed: d.freed, mm: d.mm, pt: ptView(d) }])),
      iotlb: tlbView(s.iotlb),
      devtlb: Object.fromEntries([...s.devtlb].map(([dev, t]) => [dev, tlbView(t)])),
      faults: s.faults.map((f) => formatFault(s.spec.kind, s.name, f)),
      stats: { ...s.stats },
      ...model.inspect(s),
    }),
  });
}
